import {
  condition,
  continueAsNew,
  defineSignal,
  defineUpdate,
  proxyActivities,
  setHandler,
  allHandlersFinished,
} from '@temporalio/workflow';
import type {
  InferenceActivities,
  InferenceNodeActivities,
  InferenceSettings,
  InferenceVerifierActivities,
} from '../lib/pipeline/inference';
export type { InferenceSettings } from '../lib/pipeline/inference';
import { sealTo } from '../lib/pipeline';

export interface DeploymentInput {
  deploymentId: string;
  minReplicas: number;
  maxReplicas: number;
  targetReplicas: number;
  /** Carried over continue-as-new. */
  window?: number;
  reserved?: boolean;
  idleWindows?: number;
}

export interface ScaleRequest {
  minReplicas?: number;
  maxReplicas?: number;
  replicas?: number;
}

export const scaleUpdate = defineUpdate<
  { minReplicas: number; maxReplicas: number; targetReplicas: number },
  [ScaleRequest]
>('scale');
export const stopSignal = defineSignal<[{ reason?: string }]>('stop');

const l2 = proxyActivities<
  InferenceActivities & { inferenceSettings(): Promise<InferenceSettings>; verifierKeys(): Promise<string[]> }
>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10, initialInterval: '500 ms', nonRetryableErrorTypes: ['EmethRefused'] },
});

/** Windows one run holds before it continues as new (its history stays small however long it serves). */
const WINDOWS_PER_RUN = 200;

/**
 * One deployment, from its budget's commitment to its settlement: replicas placed on warm nodes and
 * kept at the target (replaced when a node leaves or lies, scaled between min and max by the
 * requester or the load), and every window the answered requests ticketed, a canary sent to each
 * replica and the sampled requests re-run by a verifier. Requests themselves never pass through here
 * (activities/inference/router): this is the control plane.
 */
export async function deploymentWorkflow(
  input: DeploymentInput,
): Promise<{ status: string; charged: string; refunded: string }> {
  const { deploymentId } = input;
  let { minReplicas, maxReplicas, targetReplicas } = input;
  let stop: { reason?: string } | undefined;
  let rescaled = false;
  setHandler(
    scaleUpdate,
    (req) => {
      minReplicas = req.minReplicas ?? minReplicas;
      maxReplicas = req.maxReplicas ?? maxReplicas;
      targetReplicas = Math.min(maxReplicas, Math.max(minReplicas, req.replicas ?? targetReplicas));
      rescaled = true;
      return { minReplicas, maxReplicas, targetReplicas };
    },
    {
      validator: (req) => {
        const min = req.minReplicas ?? minReplicas;
        const max = req.maxReplicas ?? maxReplicas;
        if (min < 1 || max < min)
          throw new Error(`minReplicas ${min} and maxReplicas ${max} must satisfy 1 ≤ min ≤ max`);
        if (req.replicas !== undefined && (req.replicas < min || req.replicas > max))
          throw new Error(`replicas ${req.replicas} is outside [${min}, ${max}]`);
        if (stop) throw new Error('the deployment is stopping');
      },
    },
  );
  setHandler(stopSignal, (s) => void (stop = s));

  const settings = await l2.inferenceSettings();
  if (!input.reserved) {
    try {
      await l2.reserveDeployment({ deploymentId });
    } catch (err) {
      const reason = causeOf(err);
      return { status: 'failed', ...(await l2.settleDeployment({ deploymentId, status: 'failed', reason })) };
    }
  }
  const onNode = (nodeId: string) =>
    proxyActivities<InferenceNodeActivities>({
      taskQueue: `${settings.nodeQueuePrefix}${nodeId}`,
      // A node that does not take its load within the window is skipped; another is placed next window.
      scheduleToStartTimeout: Math.max(settings.windowMs * 3, 10_000),
      startToCloseTimeout: '5 minutes',
      retry: { maximumAttempts: 2 },
    });
  const verifier = proxyActivities<InferenceVerifierActivities>({
    taskQueue: settings.verifierQueue,
    startToCloseTimeout: '5 minutes',
    retry: { maximumAttempts: 5 },
  });

  let window = input.window ?? 0;
  let idle = input.idleWindows ?? 0;
  while (!stop) {
    // Keep the target: replace what was lost, place what is missing, retire what is too many.
    const { serving: live } = await l2.checkReplicas({ deploymentId });
    if (live.length > targetReplicas) {
      const retired = await l2.retireReplicas({ deploymentId, count: live.length - targetReplicas });
      await Promise.all(retired.map((n) => unload(onNode(n.nodeId), n.nodeKey, deploymentId)));
    } else if (live.length < targetReplicas) {
      const placed = await l2.placeReplicas({ deploymentId, want: targetReplicas - live.length });
      await Promise.all(
        placed.map(async (p) => {
          try {
            await onNode(p.nodeId).loadReplica(sealTo([p.nodeKey], p.spec));
            await l2.replicaLoaded({ replicaId: p.replicaId, ok: true });
          } catch (err) {
            await l2.replicaLoaded({ replicaId: p.replicaId, ok: false, reason: causeOf(err) });
          }
        }),
      );
    }
    const now = (await l2.checkReplicas({ deploymentId })).serving.length;

    rescaled = false;
    await condition(() => stop !== undefined || rescaled, settings.windowMs);
    if (rescaled && !stop) continue;

    window++;
    await l2.sendCanaries({ deploymentId, window });
    const closed = await checkAndClose(window);
    // Load-driven scaling between the bounds the requester set.
    const perReplicaRps = closed.requests / Math.max(1, now) / (settings.windowMs / 1000);
    idle = closed.requests === 0 ? idle + 1 : 0;
    if (perReplicaRps > settings.scaleUpRps && targetReplicas < maxReplicas) targetReplicas++;
    else if (idle >= settings.idleWindowsToScaleDown && targetReplicas > minReplicas) {
      targetReplicas--;
      idle = 0;
    }
    if (window % WINDOWS_PER_RUN === 0 && !stop) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof deploymentWorkflow>({
        deploymentId,
        minReplicas,
        maxReplicas,
        targetReplicas,
        window,
        reserved: true,
        idleWindows: idle,
      });
    }
  }

  // Stopping: no new requests, every answered one checked and billed, the rest of the budget freed.
  await l2.setDeploymentStatus({ deploymentId, status: 'stopping', reason: stop.reason });
  const retired = await l2.retireReplicas({ deploymentId, all: true });
  await Promise.all(retired.map((n) => unload(onNode(n.nodeId), n.nodeKey, deploymentId)));
  await checkAndClose(window + 1);
  // Samples drawn in the last window are checked before the final bill.
  await checkAndClose(window + 2);
  return {
    status: 'stopped',
    ...(await l2.settleDeployment({ deploymentId, status: 'stopped', reason: stop.reason })),
  };

  async function checkAndClose(w: number) {
    const closed = await l2.closeWindow({ deploymentId, window: w });
    if (closed.samples.length > 0) {
      const checked = await verifier.checkInference(
        sealTo(await l2.verifierKeys(), { deploymentId, model: closed.model, samples: closed.samples }),
      );
      await l2.recordInferenceVerdicts({
        deploymentId,
        verifier: checked.verifier,
        verdicts: checked.verdicts,
      });
    }
    return closed;
  }
}

async function unload(
  node: InferenceNodeActivities,
  nodeKey: string | null,
  deploymentId: string,
): Promise<void> {
  // Best effort: a node that is gone (or never gave a key) has nothing loaded to release.
  if (!nodeKey) return;
  await node.unloadReplica(sealTo([nodeKey], { deploymentId })).catch(() => undefined);
}

function causeOf(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
