/**
 * The inference service's types (paper 5-1): deployments, the messages of the serving stream
 * between the gateway and a replica's node, request tensors as JSON, and the per-request price
 * (5-1-1). No I/O: the gateway, the L2 activities and the node share it.
 */
import { createHash } from 'node:crypto';
import { EmethError } from './errors';
import { meterFuel, type ModelCost } from './programs';
import {
  createTensor,
  elementCount,
  littleEndianBytes,
  valuesOf,
  type DType,
  type Tensor,
  type TypedArray,
} from './tensors';

export type DeploymentStatus = 'deploying' | 'serving' | 'stopping' | 'stopped' | 'failed';
export type ReplicaStatus = 'loading' | 'serving' | 'draining' | 'stopped' | 'failed';

/** How a deployment charges (paper 5-1-1): a flat price per request, or a price per fuel its rows cost. */
export type Pricing = 'request' | 'fuel';

/**
 * 5-1-1, the numbers (the paper gives only the heading):
 * - per fuel: at least the onnx-inference program's minimum fuel price (1 Gholon), the floor a batch
 *   Job of the same model pays, so serving never undercuts batch for the same work;
 * - per request: at least that floor times the fuel of the largest request the deployment accepts
 *   (maxRowsPerRequest rows), so no request is served below the batch floor either;
 * - the requester's budget (its Commit) must cover at least one request; a request that would take
 *   the deployment past its budget is refused (HTTP 402) before any node runs it;
 * - canaries are never billed, a request whose sampled check failed is never billed.
 */
export const MIN_INFERENCE_FUEL_PRICE = 1_000_000_000n;
export const DEFAULT_MAX_ROWS_PER_REQUEST = 256;

/** Fuel of one request of `rows` rows (the batch meter's formula, with no limit). */
export function requestFuel(rows: number, cost: ModelCost): bigint {
  return BigInt(meterFuel(rows, cost, 2n ** 128n).fuelUsed);
}

/** Holon one request of `rows` rows costs under the deployment's pricing. */
export function requestPrice(p: { pricing: Pricing; price: bigint }, rows: number, cost: ModelCost): bigint {
  return p.pricing === 'request' ? p.price : p.price * requestFuel(rows, cost);
}

/** The lowest price a deployment may ask (see the numbers above). */
export function minimumPrice(pricing: Pricing, maxRows: number, cost: ModelCost): bigint {
  return pricing === 'fuel'
    ? MIN_INFERENCE_FUEL_PRICE
    : MIN_INFERENCE_FUEL_PRICE * requestFuel(maxRows, cost);
}

/** A tensor on the serving stream: raw little-endian bytes, base64. */
export interface WireTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: string;
}

/** Gateway → node. `canary` is never sent: a node cannot tell a canary from a request. */
export type ToNode =
  { t: 'infer'; id: string; deploymentId: string; inputs: WireTensor[] } | { t: 'ping'; id: string };

/** Node → gateway. */
export type FromNode =
  | { t: 'result'; id: string; outputs: WireTensor[] }
  | { t: 'error'; id: string; message: string; code?: string }
  | { t: 'pong'; id: string };

/** What the node serving `deploymentId` holds warm. */
export interface ReplicaSpec {
  deploymentId: string;
  /** The model's blob id. */
  model: string;
}

export function toWire(t: Tensor): WireTensor {
  return {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    data: Buffer.from(littleEndianBytes(t)).toString('base64'),
  };
}

const ARRAYS: Record<DType, { new (b: ArrayBuffer, o: number, n: number): TypedArray; bytes: number }> = {
  float16: Object.assign(Uint16Array, { bytes: 2 }),
  float32: Object.assign(Float32Array, { bytes: 4 }),
  float64: Object.assign(Float64Array, { bytes: 8 }),
  int32: Object.assign(Int32Array, { bytes: 4 }),
  int64: Object.assign(BigInt64Array, { bytes: 8 }),
  bool: Object.assign(Uint8Array, { bytes: 1 }),
  uint8: Object.assign(Uint8Array, { bytes: 1 }),
  int8: Object.assign(Int8Array, { bytes: 1 }),
} as never;

export function fromWire(w: WireTensor): Tensor {
  const bytes = Buffer.from(w.data, 'base64');
  const A = ARRAYS[w.dtype];
  if (!A) throw new EmethError('INPUT', `tensor '${w.name}' has an unknown dtype '${w.dtype}'`);
  const n = elementCount(w.shape);
  if (bytes.length !== n * A.bytes)
    throw new EmethError(
      'INPUT',
      `tensor '${w.name}' of shape [${w.shape.join(', ')}] holds ${bytes.length} bytes, not ${n * A.bytes}`,
    );
  // Copied into an aligned buffer: a Buffer from base64 may start at any offset.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return createTensor(w.name, w.dtype, w.shape, new A(copy.buffer, 0, n) as never);
}

/** sha-256 over each tensor's name, dtype, shape and bytes, in order: what receipts and checks compare. */
export function tensorsDigest(tensors: readonly Tensor[]): string {
  const h = createHash('sha256');
  for (const t of tensors) {
    h.update(`${t.name}|${t.dtype}|${t.shape.join(',')}|`);
    h.update(littleEndianBytes(t));
  }
  return '0x' + h.digest('hex');
}

/** An output as the infer route answers in JSON: values flat in row-major order, beside the shape. */
export interface JsonTensor {
  dtype: DType;
  shape: number[];
  data: (number | boolean | string)[];
}

export function tensorToJson(t: Tensor): JsonTensor {
  const values = valuesOf(t);
  return {
    dtype: t.dtype,
    shape: t.shape,
    data: values.map((v) =>
      typeof v === 'bigint'
        ? Number.isSafeInteger(Number(v))
          ? Number(v)
          : v.toString()
        : t.dtype === 'bool'
          ? v !== 0
          : v,
    ),
  };
}

/** A JSON value (nested arrays of numbers or booleans) as a tensor of the model input's dtype. */
export function tensorFromJson(name: string, value: unknown, dtype: DType, field: string): Tensor {
  const shape: number[] = [];
  for (let v: unknown = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  if (shape.length === 0)
    throw new InferInputError(field, `${field} must be an array of rows (nested arrays of numbers)`);
  const flat: unknown[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth === shape.length) return void flat.push(v);
    if (!Array.isArray(v) || v.length !== shape[depth])
      throw new InferInputError(
        field,
        `${field} is not rectangular: every row must have the same shape [${shape.slice(1).join(', ')}]`,
      );
    for (const x of v) walk(x, depth + 1);
  };
  walk(value, 0);
  const bad = flat.findIndex((x) => typeof x !== 'number' && typeof x !== 'boolean');
  if (bad >= 0)
    throw new InferInputError(
      field,
      `${field} holds ${JSON.stringify(flat[bad])}; only numbers (and booleans) are accepted`,
    );
  const nums = flat.map((x) => (typeof x === 'boolean' ? (x ? 1 : 0) : (x as number)));
  const ints =
    dtype === 'int32' || dtype === 'int64' || dtype === 'int8' || dtype === 'uint8' || dtype === 'bool';
  if (ints && nums.some((x) => !Number.isInteger(x)))
    throw new InferInputError(field, `${field} holds fractions but the model's input takes ${dtype}`);
  switch (dtype) {
    case 'float32':
      return createTensor(name, dtype, shape, Float32Array.from(nums));
    case 'float64':
      return createTensor(name, dtype, shape, Float64Array.from(nums));
    case 'int32':
      return createTensor(name, dtype, shape, Int32Array.from(nums));
    case 'int64':
      return createTensor(name, dtype, shape, BigInt64Array.from(nums.map((x) => BigInt(x))));
    case 'int8':
      return createTensor(name, dtype, shape, Int8Array.from(nums));
    case 'uint8':
    case 'bool':
      return createTensor(name, dtype, shape, Uint8Array.from(nums));
    default:
      throw new InferInputError(
        field,
        `the model's input takes ${dtype}, which JSON inputs cannot carry; send a .npy body`,
      );
  }
}

/** A request input the gateway cannot feed to the model: HTTP 400 naming the field. */
export class InferInputError extends EmethError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('INPUT', message);
  }
}

/**
 * Whether a replica's outputs match the reference (a canary's known answer, a verifier's re-run):
 * the same names, dtypes and shapes; integers equal; floats within 1e-4 relative + 1e-5 absolute
 * (CPU and CUDA kernels differ in the last bits, as the batch verifier allows).
 */
export function outputsMatch(claimed: readonly Tensor[], reference: readonly Tensor[]): string | undefined {
  if (claimed.length !== reference.length)
    return `${claimed.length} outputs, the reference has ${reference.length}`;
  for (let i = 0; i < claimed.length; i++) {
    const c = claimed[i]!;
    const r = reference[i]!;
    if (c.name !== r.name || c.dtype !== r.dtype || c.shape.join(',') !== r.shape.join(','))
      return `output ${i} is ${c.name} ${c.dtype} [${c.shape}], the reference ${r.name} ${r.dtype} [${r.shape}]`;
    const cv = valuesOf(c);
    const rv = valuesOf(r);
    for (let k = 0; k < cv.length; k++) {
      const a = cv[k]!;
      const b = rv[k]!;
      if (typeof a === 'bigint' || typeof b === 'bigint') {
        if (a !== b) return `output ${c.name}[${k}] is ${a}, the reference ${b}`;
      } else if (!(Math.abs(a - b) <= 1e-5 + 1e-4 * Math.abs(b)) && !(Number.isNaN(a) && Number.isNaN(b))) {
        return `output ${c.name}[${k}] is ${a}, the reference ${b}`;
      }
    }
  }
  return undefined;
}
