/**
 * A node's side of the inference service: the warm sessions it keeps for the deployments it
 * serves, the activities the deployment workflow runs on the node's own queue to load and unload
 * them, and the answer to one request arriving over its serving stream.
 */
import type { Logger } from '../../lib/logger';
import { fromWire, toWire, type FromNode, type ToNode } from '../../lib/inference';
import type { Tensor } from '../../lib/tensors';
import { createOnnxSession, type OnnxSession } from '../programs/onnx-runtime';
import type { BlobStore } from '../storage';
import type { InferenceNodeActivities } from '../../lib/pipeline/inference';

export interface WarmSessions {
  get(deploymentId: string): OnnxSession | undefined;
  /** Answers one message of the serving stream. */
  answer(msg: ToNode): Promise<FromNode>;
  close(): Promise<void>;
}

export interface InferenceNodeDeps {
  nodeId: string;
  store: Pick<BlobStore, 'get'>;
  logger: Logger;
  /** Fault drills only (`--behaviour lying-server`): what the node sends instead of its outputs. */
  alterOutputs?: (outputs: Tensor[]) => Tensor[];
}

export function createWarmSessions(deps: InferenceNodeDeps): {
  sessions: WarmSessions;
  activities: InferenceNodeActivities;
} {
  const log = deps.logger.child({ component: 'inference-node' });
  const loading = new Map<string, Promise<OnnxSession>>();
  const ready = new Map<string, OnnxSession>();

  const sessions: WarmSessions = {
    get: (id) => ready.get(id),
    async answer(msg) {
      if (msg.t === 'ping') return { t: 'pong', id: msg.id };
      const session = ready.get(msg.deploymentId);
      if (!session)
        return {
          t: 'error',
          id: msg.id,
          code: 'not_loaded',
          message: `node ${deps.nodeId} holds no session for deployment ${msg.deploymentId}`,
        };
      try {
        const feeds = Object.fromEntries(msg.inputs.map((w) => [w.name, fromWire(w)]));
        let outputs = await session.run(feeds);
        if (deps.alterOutputs) outputs = deps.alterOutputs(outputs);
        return { t: 'result', id: msg.id, outputs: outputs.map(toWire) };
      } catch (err) {
        return { t: 'error', id: msg.id, code: 'run_failed', message: (err as Error).message };
      }
    },
    async close() {
      for (const s of ready.values()) await s.release().catch(() => undefined);
      ready.clear();
    },
  };

  const activities: InferenceNodeActivities = {
    async loadReplica({ deploymentId, model }) {
      let p = loading.get(deploymentId);
      if (!p) {
        p = deps.store.get(model).then((bytes) => createOnnxSession(bytes, { logger: log }));
        loading.set(deploymentId, p);
        p.catch(() => loading.delete(deploymentId));
      }
      const session = await p;
      ready.set(deploymentId, session);
      log.info({ deploymentId, provider: session.provider }, 'replica loaded: serving');
      return {
        provider: session.provider,
        inputs: session.model.inputs.map((i) => i.name),
        outputs: session.model.outputs.map((o) => o.name),
      };
    },
    async unloadReplica({ deploymentId }) {
      const session = ready.get(deploymentId);
      ready.delete(deploymentId);
      loading.delete(deploymentId);
      await session?.release();
      if (session) log.info({ deploymentId }, 'replica unloaded');
    },
  };
  return { sessions, activities };
}
