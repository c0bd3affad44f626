/**
 * The Job parameters of encrypted-stats, under their REST names (POST /v1/jobs): the
 * requester's CKKS public key the statistics are encrypted to, and the histogram (bins over
 * [min, max) per column). Pure: zod and lib/ only.
 */
import { z } from 'zod';
import { RANGE_ISSUE, blobIdField, intField, numberField, singleEpochField } from '../../lib/schema-fields';

export const MAX_BINS = 1024;

export const encryptedStatsParams = z
  .strictObject({
    publicKey: blobIdField(
      "blob id of the requester's CKKS public key the statistics are encrypted to (emeth keyholder start uploads it)",
    ),
    bins: intField(1, MAX_BINS, 'histogram bins per column (default 10)').optional(),
    min: numberField('lower end of the histogram range; must be below max (400 invalid_range otherwise)'),
    max: numberField('upper end of the histogram range; must be above min'),
    numEpoch: singleEpochField('encrypted-stats'),
  })
  // JSON Schema cannot compare two fields: the document states this rule in words, and the
  // refusal carries its own code so that it is not mistaken for a malformed request.
  .superRefine((p, ctx) => {
    if (!(p.min < p.max)) {
      ctx.addIssue({
        code: 'custom',
        path: ['min'],
        message: `min (${p.min}) must be below max (${p.max})`,
        params: { code: RANGE_ISSUE },
      });
    }
  });

export type EncryptedStatsParams = z.infer<typeof encryptedStatsParams>;
