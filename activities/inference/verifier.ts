/**
 * The verifier's check of served inference (paper 5-1 under the verification policy): it re-runs a
 * sampled request, or a canary the L2 sent, on its own CPU session of the deployment's model and
 * compares the replica's outputs with its own.
 */
import type { Signer } from 'ethers';
import type { Logger } from '../../lib/logger';
import { fromWire, outputsMatch, type WireTensor } from '../../lib/inference';
import { createOnnxSession, type OnnxSession } from '../programs/onnx-runtime';
import type { BlobStore } from '../storage';
import type { InferenceVerdict, InferenceVerifierActivities } from '../../lib/pipeline/inference';

export function createInferenceVerifierActivities(deps: {
  signer: Pick<Signer, 'getAddress'>;
  store: Pick<BlobStore, 'get'>;
  logger: Logger;
}): InferenceVerifierActivities {
  const sessions = new Map<string, Promise<OnnxSession>>();
  const sessionOf = (model: string) => {
    let s = sessions.get(model);
    if (!s) {
      s = deps.store.get(model).then((bytes) => createOnnxSession(bytes, { preferCuda: false }));
      sessions.set(model, s);
      s.catch(() => sessions.delete(model));
    }
    return s;
  };
  return {
    async checkInference(task) {
      const verifier = (await deps.signer.getAddress()).toLowerCase();
      const session = await sessionOf(task.model);
      const verdicts: InferenceVerdict[] = [];
      for (const s of task.samples) {
        const log = deps.logger.child({
          deploymentId: task.deploymentId,
          requestId: s.requestId,
          nodeId: s.nodeId,
        });
        const sample = JSON.parse(new TextDecoder().decode(await deps.store.get(s.blob))) as {
          inputs: WireTensor[];
          outputs: WireTensor[];
        };
        const feeds = Object.fromEntries(sample.inputs.map((w) => [w.name, fromWire(w)]));
        let reason: string | undefined;
        try {
          const claimed = sample.outputs.map(fromWire);
          reason = outputsMatch(claimed, await session.run(feeds));
        } catch (err) {
          reason = `the claimed outputs cannot be read: ${(err as Error).message}`;
        }
        verdicts.push({ requestId: s.requestId, valid: reason === undefined, ...(reason ? { reason } : {}) });
        if (reason) log.warn({ reason }, 'served inference does not match the model');
      }
      return { verifier, verdicts };
    },
  };
}
