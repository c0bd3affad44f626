/**
 * The Job parameters of onnx-inference, under their REST names (POST /v1/jobs). Pure: zod and
 * lib/ only, so the gateway composes the request body from it and the program's modules may read
 * the same names.
 */
import { z } from 'zod';
import { DATASET_FORMATS } from '../../lib/tensors/dataset';
import { blobIdField, singleEpochField } from '../../lib/schema-fields';

const NAME_EXPECT = 'a name of 1 to 200 characters';
const name = z.string(NAME_EXPECT).min(1, NAME_EXPECT).max(200, NAME_EXPECT);
const COLUMNS_EXPECT = 'a list of 1 to 4096 column names';

export const onnxInferenceParams = z.strictObject({
  model: blobIdField('blob id of the ONNX model every row of the dataset is run through'),
  numEpoch: singleEpochField('onnx-inference'),
  inputs: z
    .record(
      name,
      z.union([name, z.array(name, COLUMNS_EXPECT).min(1, COLUMNS_EXPECT).max(4096, COLUMNS_EXPECT)]),
      'an object mapping model input names to an array name, a column pattern such as "pixel_*", or a list of columns',
    )
    .refine((r) => Object.keys(r).length <= 64, 'an object of at most 64 model inputs')
    .optional()
    .meta({
      description:
        'which dataset array or columns feed each model input, e.g. {"X": "pixel_*"}; default: arrays named like the inputs, or the only one that fits',
    }),
  outputs: z
    .array(name, 'a list of 1 to 64 output names')
    .min(1, 'a list of 1 to 64 output names')
    .max(64, 'a list of 1 to 64 output names')
    .optional()
    .meta({ description: 'the model outputs to return, by name; default: all of them' }),
  datasetFormat: z
    .enum(DATASET_FORMATS, `one of ${DATASET_FORMATS.join(', ')}`)
    .optional()
    .meta({ description: "the dataset's format; default: detected from its bytes" }),
  replicate: z
    .boolean('true or false')
    .optional()
    .meta({
      description:
        'run every SubJob on two independent nodes that commit to their results before either reveals; ' +
        'they are paid from the same fuelLimit (each run gets half), and the verifier re-executes only when they disagree',
    }),
});

export type OnnxInferenceParams = z.infer<typeof onnxInferenceParams>;
