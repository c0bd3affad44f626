/**
 * fedavg-train's Job parameters and blob formats, shared by the Splitter, the nodes, the
 * aggregator, the verifier and the keyholder.
 *
 * Blobs:
 *  - dataset / shard: an EMETH matrix N × (D+1), the features then the class index (examples/classification.ts).
 *  - global model / checkpoint: an EMETH matrix 1 × P, the flat float32 parameter vector.
 *  - train-step graph: ONNX bytes (examples/train-models.ts).
 *  - CKKS public key: the serialized SEAL PublicKey (lib/ckks.ts).
 *  - encrypted update (a node's output) and encrypted sum (the aggregate): an "EMCV" envelope,
 *
 *      offset 0  4 bytes  magic "EMCV"
 *             4  u16 LE   version (1)
 *             6  u16 LE   kind (1 = one node's update, 2 = weighted sum)
 *             8  u32 LE   length: plaintext values encrypted (P)
 *            12  f64 LE   weight: the shard's rows (update) or Σ weights (sum)
 *            20  …        ciphertext bytes (Ckks.encrypt / Ckks.weightedSum)
 *
 *    The header is public on purpose: the aggregator needs P and the weights, never the values.
 */
import { EmethError } from '../../lib/errors';
import { createMatrix, decodeMatrix, encodeMatrix } from '../../lib/matrix';
import { isBlobId, type BlobId } from '../../lib/programs';

// ---------------------------------------------------------------------------------------------
// Job parameters (RunInput.params / SplitInput.params / VerifyInput.params: strings, JSON-safe)

export interface FedAvgParams {
  /** The train-step graph (examples/train-models.ts: buildTrainStepModel). */
  trainGraph: BlobId;
  /** The requester's CKKS public key; required to run (nodes encrypt with it), not to split. */
  publicKey?: BlobId;
  /** Gradient-descent steps each SubJob runs per epoch from the global model. */
  localSteps: number;
  learningRate: number;
  /** Rows per step; 0 = the whole shard every step (full batch). */
  batchSize: number;
  /** A label for logs ('softmax', 'mlp', …); the graph alone defines the model. */
  modelKind?: string;
  /**
   * Robust aggregation: the L2 norm each update (local − global) is scaled down to before it is
   * encrypted, and the most an opened update may have (fedavg-trainer.ts clipUpdate, fedavg-train.ts
   * verify). Absent: no clipping.
   */
  clipNorm?: number;
}

export const FEDAVG_PARAM_KEYS = [
  'trainGraph',
  'publicKey',
  'localSteps',
  'learningRate',
  'batchSize',
  'modelKind',
  'clipNorm',
] as const;

export const DEFAULT_LOCAL_STEPS = 5;
export const DEFAULT_LEARNING_RATE = 0.1;
/** Guards against a Job that would keep a node busy for hours on one SubJob by a typo. */
export const MAX_LOCAL_STEPS = 10_000;

export class FedAvgParamsError extends EmethError {
  constructor(message: string) {
    super('BAD_FEDAVG_PARAMS', message);
  }
}

/** The wire form: what a Job carries in its params. */
export function fedAvgParamsToRecord(p: FedAvgParams): Record<string, string> {
  const out: Record<string, string> = {
    trainGraph: p.trainGraph,
    localSteps: String(p.localSteps),
    learningRate: String(p.learningRate),
    batchSize: String(p.batchSize),
  };
  if (p.publicKey) out.publicKey = p.publicKey;
  if (p.modelKind) out.modelKind = p.modelKind;
  if (p.clipNorm !== undefined) out.clipNorm = String(p.clipNorm);
  return out;
}

/** Parses and checks a Job's params; `needKey` for the paths that encrypt (run). */
export function parseFedAvgParams(
  params: Record<string, string> | undefined,
  options: { needKey?: boolean } = {},
): FedAvgParams {
  if (!params) {
    throw new FedAvgParamsError(
      'fedavg-train needs Job params (at least trainGraph, and publicKey to run); none were given',
    );
  }
  const unknown = Object.keys(params).filter((k) => !(FEDAVG_PARAM_KEYS as readonly string[]).includes(k));
  if (unknown.length) {
    throw new FedAvgParamsError(
      `unknown fedavg-train params: ${unknown.join(', ')}; known: ${FEDAVG_PARAM_KEYS.join(', ')}`,
    );
  }
  const blob = (key: 'trainGraph' | 'publicKey', required: boolean): BlobId | undefined => {
    const v = params[key];
    if (v === undefined && !required) return undefined;
    if (!isBlobId(v)) {
      throw new FedAvgParamsError(
        `params.${key} must be a blob id (64 lowercase hex characters), got ${v === undefined ? 'nothing' : `"${v}"`}; upload it first`,
      );
    }
    return v;
  };
  const int = (key: 'localSteps' | 'batchSize', fallback: number, min: number, max: number): number => {
    const raw = params[key];
    if (raw === undefined) return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new FedAvgParamsError(`params.${key} must be an integer in [${min}, ${max}], got "${raw}"`);
    }
    return n;
  };
  const lrRaw = params.learningRate;
  const lr = lrRaw === undefined ? DEFAULT_LEARNING_RATE : Number(lrRaw);
  if (!(Number.isFinite(lr) && lr > 0 && lr <= 100) || (lrRaw !== undefined && lrRaw.trim() === '')) {
    throw new FedAvgParamsError(`params.learningRate must be a number in (0, 100], got "${lrRaw}"`);
  }
  const clipRaw = params.clipNorm;
  const clipNorm = clipRaw === undefined ? undefined : Number(clipRaw);
  if (clipRaw !== undefined && (!(Number.isFinite(clipNorm) && clipNorm! > 0) || clipRaw.trim() === '')) {
    throw new FedAvgParamsError(
      `params.clipNorm must be a positive number (the L2 norm each update is clipped to), got "${clipRaw}"`,
    );
  }
  return {
    trainGraph: blob('trainGraph', true)!,
    publicKey: blob('publicKey', options.needKey === true),
    localSteps: int('localSteps', DEFAULT_LOCAL_STEPS, 1, MAX_LOCAL_STEPS),
    learningRate: lr,
    batchSize: int('batchSize', 0, 0, 2 ** 31),
    modelKind: params.modelKind,
    ...(clipNorm !== undefined ? { clipNorm } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Models

export function encodeModel(params: Float32Array): Uint8Array {
  return encodeMatrix(createMatrix(1, params.length, params));
}

export function decodeModel(bytes: Uint8Array, what = 'model'): Float32Array {
  const m = decodeMatrix(bytes);
  if (m.rows !== 1 || m.cols === 0) {
    throw new EmethError(
      'BAD_MODEL',
      `a fedavg ${what} is a 1 × P matrix of parameters, this one is ${m.rows}×${m.cols}; store it with encodeModel`,
    );
  }
  return Float32Array.from(m.data); // a copy: the blob's buffer may be shared
}

// ---------------------------------------------------------------------------------------------
// Encrypted vectors

export const ENVELOPE_MAGIC = 'EMCV';
export const ENVELOPE_VERSION = 1;
export const ENVELOPE_HEADER_BYTES = 20;
export const EnvelopeKind = { UPDATE: 1, SUM: 2 } as const;
export type EnvelopeKindValue = (typeof EnvelopeKind)[keyof typeof EnvelopeKind];

export interface EncryptedVector {
  kind: EnvelopeKindValue;
  /** Plaintext values encrypted (the model's parameter count). */
  length: number;
  /** Shard rows (update) or their total (sum). */
  weight: number;
  ciphertext: Uint8Array;
}

const MAGIC = [0x45, 0x4d, 0x43, 0x56];

export function encodeEnvelope(v: EncryptedVector): Uint8Array {
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES + v.ciphertext.byteLength);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint16(4, ENVELOPE_VERSION, true);
  view.setUint16(6, v.kind, true);
  view.setUint32(8, v.length, true);
  view.setFloat64(12, v.weight, true);
  out.set(v.ciphertext, ENVELOPE_HEADER_BYTES);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array, expect?: EnvelopeKindValue): EncryptedVector {
  const bad = (why: string) =>
    new EmethError(
      'BAD_ENVELOPE',
      `not a fedavg encrypted vector: ${why}; it must be written by encodeEnvelope`,
    );
  if (bytes.byteLength <= ENVELOPE_HEADER_BYTES) throw bad(`${bytes.byteLength} bytes is too short`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw bad(`it does not start with "${ENVELOPE_MAGIC}"`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, ENVELOPE_HEADER_BYTES);
  const version = view.getUint16(4, true);
  if (version !== ENVELOPE_VERSION) throw bad(`version ${version}, this build reads ${ENVELOPE_VERSION}`);
  const kind = view.getUint16(6, true);
  if (kind !== EnvelopeKind.UPDATE && kind !== EnvelopeKind.SUM) throw bad(`unknown kind ${kind}`);
  if (expect !== undefined && kind !== expect) {
    const name = (k: number) => (k === EnvelopeKind.UPDATE ? 'a node update' : 'a weighted sum');
    throw new EmethError('BAD_ENVELOPE', `expected ${name(expect)}, got ${name(kind)}`);
  }
  const length = view.getUint32(8, true);
  const weight = view.getFloat64(12, true);
  if (length === 0) throw bad('it encrypts zero values');
  if (!(Number.isFinite(weight) && weight > 0)) throw bad(`its weight ${weight} is not a positive number`);
  return { kind, length, weight, ciphertext: bytes.subarray(ENVELOPE_HEADER_BYTES) };
}
