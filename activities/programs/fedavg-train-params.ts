/**
 * The Job parameters of fedavg-train, under their REST names (POST /v1/jobs): the train-step
 * graph, the requester's CKKS public key (node updates are encrypted to it), the initial model,
 * an optional held-out set the keyholder measures each epoch on, the local training settings and
 * the number of epochs. Pure: zod and lib/ only.
 */
import { z } from 'zod';
import { blobIdField, intField, textField } from '../../lib/schema-fields';

export const MAX_EPOCHS = 100;

export const fedAvgTrainParams = z.strictObject({
  trainGraph: blobIdField('blob id of the train-step ONNX graph'),
  publicKey: blobIdField("blob id of the requester's CKKS public key (emeth keyholder start uploads it)"),
  initialModel: blobIdField('blob id of the initial model (epoch 0)'),
  testSet: blobIdField('held-out set the keyholder measures each epoch on').optional(),
  localSteps: intField(1, 10_000, 'training steps per node per epoch').optional(),
  learningRate: textField({
    maxLength: 20,
    // (0, 100] as the program reads it (fedavg-format.ts), in decimal notation.
    pattern: /^(?:[1-9][0-9]?(?:\.[0-9]+)?|0?\.[0-9]*[1-9][0-9]*|100(?:\.0+)?)$/,
    expect: 'a decimal number in (0, 100] such as 0.1',
    description: 'gradient-descent step size as a decimal string, e.g. 0.1 (default 0.1)',
  }).optional(),
  batchSize: intField(0, 1_000_000, 'rows per step; 0: the whole shard').optional(),
  numEpoch: intField(1, MAX_EPOCHS, 'training rounds').default(1),
});

export type FedAvgTrainParams = z.infer<typeof fedAvgTrainParams>;
