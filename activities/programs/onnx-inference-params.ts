/**
 * The Job parameters of onnx-inference, under their REST names (POST /v1/jobs). Pure: zod and
 * lib/ only, so the gateway composes the request body from it and the program's modules may read
 * the same names.
 */
import { z } from 'zod';
import { blobIdField, singleEpochField } from '../../lib/schema-fields';

export const onnxInferenceParams = z.strictObject({
  model: blobIdField('blob id of the ONNX model every row of the dataset is run through'),
  numEpoch: singleEpochField('onnx-inference'),
});

export type OnnxInferenceParams = z.infer<typeof onnxInferenceParams>;
