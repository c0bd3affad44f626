import type { Ckks } from '../lib/ckks';
import { EmethError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { openBlob, parsePublicKey, sealBlob, type X25519KeyPair } from '../lib/envelope';
import type { KeyholderActivities } from '../lib/pipeline';
import { decodeMatrix } from '../lib/matrix';
import type { BlobStore } from './storage';
import { decryptUpdate, finishEpoch } from './programs/fedavg-train';
import { decryptStatsBundle } from './programs/encrypted-stats';
import { ProgramId } from '../lib/programs';
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
    async decryptUpdate({ jobId, subJobId, programId, update, sealValuesTo }) {
      const bytes = await deps.store.get(update); // storage checks the bytes hash to the id the node signed
      try {
        const values = isStats(programId)
          ? decryptStatsBundle(deps.ckks, deps.secretKey, bytes)
          : decryptUpdate({ ckks: deps.ckks, secretKey: deps.secretKey, updateBlob: bytes });
        deps.logger.info({ jobId, subJobId, values: values.length }, 'one update decrypted for the verifier');
        return { sealedValues: sealValuesFor(values, sealValuesTo) };
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

const isStats = (programId: number | undefined) =>
  programId === ProgramId.ENCRYPTED_STATS || programId === ProgramId.ENCRYPTED_STATS_SUBJOB;

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

/**
 * Grid the keyholder rounds decrypted values to before they leave it: 2^-20 (≈ 9.5e-7), far below
 * the verifier's tolerance (1e-3) and far above CKKS decryption noise at scale 2^40, so the noise
 * bits that would let a holder of many decryptions recover the secret key (Li & Micciancio, 2021)
 * never leave this process.
 */
export const DECRYPTION_GRID = 2 ** -20;

/** The values rounded to the grid and sealed to the verifiers alone (base64 envelope of float64s). */
export function sealValuesFor(values: ArrayLike<number>, verifierKeys: readonly string[]): string {
  const rounded = Float64Array.from(values, (v) => Math.round(v / DECRYPTION_GRID) * DECRYPTION_GRID);
  const envelope = sealBlob(
    new Uint8Array(rounded.buffer),
    verifierKeys.map((k) => parsePublicKey(k, 'verifier key')),
  );
  return Buffer.from(envelope).toString('base64');
}

/** The verifier's side of sealValuesFor. */
export function openSealedValues(sealed: string, keys: X25519KeyPair): Float64Array {
  const plain = openBlob(new Uint8Array(Buffer.from(sealed, 'base64')), keys, {
    what: 'the decrypted update',
  });
  return new Float64Array(plain.buffer, plain.byteOffset, plain.byteLength / 8);
}
