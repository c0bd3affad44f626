import { decodeMatrix, type Matrix } from '../../lib/matrix';
import { createOnnxSession } from '../../activities/programs';

/** The model over the dataset in a local onnxruntime session: what a Job's result must equal. */
export async function localRun(model: Uint8Array, dataset: Uint8Array): Promise<Matrix> {
  const s = await createOnnxSession(model);
  try {
    return await s.runRows(decodeMatrix(dataset));
  } finally {
    await s.release();
  }
}
