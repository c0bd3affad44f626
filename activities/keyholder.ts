import type { Ckks } from '../lib/ckks';
import { EmethError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { KeyholderActivities } from '../lib/pipeline';
import { decodeMatrix } from '../lib/matrix';
import type { BlobStore } from './storage';
import { decryptUpdate, finishEpoch } from './programs/fedavg-train';
import { createFedAvgTrainer, type FedAvgTrainer } from './programs/fedavg-trainer';

export interface KeyholderDeps {
  /** The requester's view of EMETH Storage (the gateway, signed by the requester's key). */
  store: BlobStore;
  ckks: Ckks;
  /** The CKKS secret key: it exists only in this process. */
  secretKey: Uint8Array;
  logger: Logger;
}

/**
 * The requester's keyholder: the one place the CKKS secret key lives. It opens each epoch's
 * aggregate (never a node's update, except one sampled update for the verifier) and checkpoints.
 */
export function createKeyholderActivities(deps: KeyholderDeps): KeyholderActivities {
  const trainers = new Map<string, Promise<FedAvgTrainer>>();
  const trainer = (graph: string) => {
    let t = trainers.get(graph);
    if (!t) {
      t = deps.store.get(graph).then((bytes) => createFedAvgTrainer(bytes));
      trainers.set(graph, t);
    }
    return t;
  };
  return {
    async finishEpoch({ jobId, epoch, sum, globalModel, testSet, trainGraph }) {
      const done = await finishEpoch({
        store: deps.store,
        ckks: deps.ckks,
        secretKey: deps.secretKey,
        sumBlobId: sum,
        globalModelBlobId: globalModel,
        trainer: await trainer(trainGraph),
        testSet: testSet ? decodeMatrix(await deps.store.get(testSet)) : undefined,
      });
      deps.logger.info({ jobId, epoch, checkpoint: done.checkpointBlobId, ...done.metrics }, 'epoch applied');
      return { checkpoint: done.checkpointBlobId, ...(done.metrics ?? {}) };
    },
    async decryptUpdate({ jobId, subJobId, update }) {
      const bytes = await deps.store.get(update); // storage checks the bytes hash to the id the node signed
      try {
        const values = decryptUpdate({ ckks: deps.ckks, secretKey: deps.secretKey, updateBlob: bytes });
        deps.logger.info({ jobId, subJobId, values: values.length }, 'one update decrypted for the verifier');
        return { values: Array.from(values) };
      } catch (err) {
        // A malformed or damaged update, or one for another key: what the node signed is unusable.
        if (err instanceof EmethError && NODE_FAULTS.has(err.code)) {
          deps.logger.warn(
            { jobId, subJobId, err: err.message },
            'update does not open under the requester key',
          );
          return { rejected: err.message };
        }
        throw err;
      }
    },
  };
}

/** Error codes that mean the update's bytes are bad (see crypto/ckks-format.ts, programs/fedavg-format.ts). */
const NODE_FAULTS = new Set([
  'CKKS_FORMAT',
  'CKKS_WRONG_KEY',
  'CKKS_LENGTH',
  'CKKS_LEVEL',
  'CKKS_SEAL',
  'CKKS_VALUE',
  'BAD_ENVELOPE',
]);
