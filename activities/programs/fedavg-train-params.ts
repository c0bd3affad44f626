/**
 * The Job parameters of fedavg-train, under their REST names (POST /v1/jobs): the train-step
 * graph, the requester's CKKS public key (node updates are encrypted to it), the initial model,
 * an optional held-out set the keyholder measures each epoch on, the local training settings, the
 * number of epochs and the optional norm clip of each update. Pure: zod and lib/ only.
 */
import { z } from 'zod';
import { blobIdField, intField, textField } from '../../lib/schema-fields';

const CLIP_NORM_EXPECT = 'a positive number such as 1.0';

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
  // A JSON number (z.number refuses NaN and ±Infinity); the Job row keeps it as its decimal text.
  // "> 0" as `minimum: Number.MIN_VALUE` (the least positive double), the inclusive keyword every
  // other field of the document uses, rather than exclusiveMinimum.
  clipNorm: z
    .number(CLIP_NORM_EXPECT)
    .min(Number.MIN_VALUE, CLIP_NORM_EXPECT)
    .meta({
      description:
        'robust aggregation (> 0): each node scales its update (local − global) down to this L2 norm before ' +
        'encrypting it, and an opened update above it is rejected; absent: no clipping',
    })
    .optional(),
  numEpoch: intField(1, MAX_EPOCHS, 'training rounds').default(1),
});

export type FedAvgTrainParams = z.infer<typeof fedAvgTrainParams>;
