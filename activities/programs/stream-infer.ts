/**
 * A shard through a model as a stream: input chunks are inferred batch by batch as they arrive and
 * the output is yielded as EMETH matrix bytes. onnxruntime-node runs on the main thread, so the
 * only work that can overlap it is the file I/O in libuv's pool; streaming both ends lets reading
 * the shard and writing the output happen while rows are being inferred, and avoids whole-matrix
 * copies. The blob store checks the input's hash at the end of the stream: if it fails, this
 * generator throws and the output is never stored.
 */
import { EmethError } from '../../lib/errors';
import { MATRIX_HEADER_BYTES, encodeMatrixHeader, readMatrixHeader } from '../../lib/matrix';
import type { ShardRef } from '../../lib/programs';
import type { OnnxSession } from './onnx-runtime';

/** Output bytes are handed to the writer in pieces of about this size (fewer, larger writes). */
const OUTPUT_CHUNK_BYTES = 1 << 20;

export interface StreamResult {
  /** Set once the first batch has run. */
  cols: number;
}

export async function* inferShardStream(
  session: Pick<OnnxSession, 'runBatch'>,
  input: AsyncIterable<Uint8Array>,
  shard: ShardRef,
  batchSize: number,
  result: StreamResult,
): AsyncGenerator<Uint8Array> {
  const rowBytes = shard.cols * 4;
  const total = MATRIX_HEADER_BYTES + shard.rows * rowBytes;
  const buf = new Uint8Array(total);
  const data = new Float32Array(buf.buffer, MATRIX_HEADER_BYTES, shard.rows * shard.cols);
  let received = 0;
  let done = 0; // rows inferred
  let pending: Uint8Array | null = null;
  let pendingLen = 0;
  const mismatch = (what: string) =>
    new EmethError(
      'SHARD_MISMATCH',
      `shard ${shard.index} (blob ${shard.blobId}) ${what}; split the Job again`,
    );

  // Runs rows [done, upTo) in batches and returns the output bytes to emit (coalesced).
  async function* infer(upTo: number): AsyncGenerator<Uint8Array> {
    while (done < upTo) {
      const n = Math.min(batchSize, upTo - done);
      const out = await session.runBatch({
        rows: n,
        cols: shard.cols,
        data: data.subarray(done * shard.cols, (done + n) * shard.cols),
      });
      if (done === 0) {
        result.cols = out.cols;
        yield encodeMatrixHeader(shard.rows, out.cols);
      }
      done += n;
      let bytes = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
      while (bytes.byteLength > 0) {
        pending ??= new Uint8Array(OUTPUT_CHUNK_BYTES);
        const take = Math.min(bytes.byteLength, OUTPUT_CHUNK_BYTES - pendingLen);
        pending.set(bytes.subarray(0, take), pendingLen);
        pendingLen += take;
        bytes = bytes.subarray(take);
        if (pendingLen === OUTPUT_CHUNK_BYTES) {
          yield pending; // handed to the writer: never reused
          pending = null;
          pendingLen = 0;
        }
      }
    }
  }

  for await (const chunk of input) {
    if (received + chunk.byteLength > total)
      throw mismatch(`is larger than ${shard.rows}×${shard.cols} values`);
    buf.set(chunk, received);
    const before = received;
    received += chunk.byteLength;
    if (before < MATRIX_HEADER_BYTES && received >= MATRIX_HEADER_BYTES) {
      const h = readMatrixHeader(buf.subarray(0, MATRIX_HEADER_BYTES));
      if (h.rows !== shard.rows || h.cols !== shard.cols) {
        throw mismatch(`holds ${h.rows}×${h.cols} values but its SubJob says ${shard.rows}×${shard.cols}`);
      }
    }
    if (received < MATRIX_HEADER_BYTES) continue;
    const ready = Math.floor((received - MATRIX_HEADER_BYTES) / rowBytes);
    yield* infer(done + Math.floor((ready - done) / batchSize) * batchSize);
  }
  if (received !== total) throw mismatch(`is ${received} bytes, ${total} expected (truncated)`);
  yield* infer(shard.rows);
  if (pending && pendingLen > 0) yield (pending as Uint8Array).subarray(0, pendingLen);
}
