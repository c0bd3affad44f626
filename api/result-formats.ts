/**
 * A completed onnx-inference Job's result in the format the requester downloads it in: .npy (one
 * output), .npz (every output under its name) or CSV (1-D and 2-D outputs as columns). Results are
 * stored as .npz, or EMTX for one float32 matrix; an EMTX result is named after the model's output.
 */
import { readModel } from '../activities/programs/onnx-model';
import { inferenceParamsOf } from '../activities/programs/onnx-inference';
import type { BlobStore } from '../activities/storage';
import { ProgramId } from '../lib/programs';
import { readDataset, writeDataset, TensorFormatError } from '../lib/tensors';
import { badRequest, conflict } from './errors';

export type ResultFormat = 'npy' | 'npz' | 'csv';

export async function resultAs(
  store: BlobStore,
  job: { id: string; programId: number; result: string | null; params: unknown },
  format: ResultFormat,
): Promise<Uint8Array> {
  if (job.programId !== ProgramId.ONNX_INFERENCE || !job.result) {
    throw badRequest(
      'invalid_field',
      `format converts onnx-inference results; Job ${job.id}'s result is its program's own blob: download it from /v1/blobs/${job.result}`,
      'format',
    );
  }
  const params = (job.params ?? {}) as Record<string, string>;
  const bytes = await store.get(job.result);
  let name: string | undefined;
  if (bytes[0] === 0x45 /* E: EMTX */ && params.model) {
    const chosen = inferenceParamsOf(params).outputs;
    name = chosen?.[0] ?? readModel(await store.get(params.model)).outputs[0]?.name;
  }
  let result;
  try {
    result = await readDataset(bytes, undefined, { source: `the result of Job ${job.id}`, name });
  } catch (err) {
    if (!(err instanceof TensorFormatError)) throw err;
    throw conflict(
      'result_not_convertible',
      `${err.message}; download the stored bytes from /v1/blobs/${job.result} instead`,
    );
  }
  try {
    return writeDataset(format, result.tensors);
  } catch (err) {
    if (err instanceof TensorFormatError) throw badRequest('invalid_field', err.message, 'format');
    throw err;
  }
}
