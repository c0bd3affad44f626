/**
 * EMETH's own matrix format (lib/matrix.ts, unchanged) as a tensor: one float32 [rows, cols] array.
 */
import { decodeMatrix, encodeMatrix, MATRIX_MAGIC } from '../matrix';
import { TensorFormatError, createTensor, type Tensor } from './tensor';

export const EMTX_MAGIC = [...MATRIX_MAGIC].map((c) => c.charCodeAt(0));

export function isEmtx(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && EMTX_MAGIC.every((b, i) => bytes[i] === b);
}

export function readEmtx(
  bytes: Uint8Array,
  options: { name?: string; source?: string } = {},
): Tensor<'float32'> {
  try {
    const m = decodeMatrix(bytes);
    return createTensor(options.name ?? 'X', 'float32', [m.rows, m.cols], m.data);
  } catch (err) {
    throw new TensorFormatError(`${options.source ?? 'the EMTX file'}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export function writeEmtx(t: Tensor): Uint8Array {
  if (t.dtype !== 'float32' || t.shape.length !== 2) {
    throw new TensorFormatError(
      `EMTX holds one float32 [rows, cols] matrix but '${t.name}' is ${t.dtype} [${t.shape.join(', ')}]; use .npy or .npz for it`,
    );
  }
  return encodeMatrix({ rows: t.shape[0]!, cols: t.shape[1]!, data: t.data as Float32Array });
}
