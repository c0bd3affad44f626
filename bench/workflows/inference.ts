// Workflows of bench/inference-mechanism.ts: ways a synchronous inference request can reach a warm
// node through Temporal. No I/O here: the node's activity holds the loaded session.
import {
  condition,
  defineSignal,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';

export interface InferRequest {
  /** Row-major float32 rows as a plain array (a JSON request's body). */
  rows: number[];
  cols: number;
}
export interface InferAnswer {
  data: number[];
  cols: number;
}
type Warm = { inferWarm(r: InferRequest): Promise<InferAnswer> };

export const inferUpdate = defineUpdate<InferAnswer, [InferRequest]>('infer');
export const stopSignal = defineSignal('stop');

/** Answers each `infer` Update with `node`, until the `stop` signal. */
async function serveUntilStopped(node: Warm): Promise<void> {
  let stop = false;
  setHandler(inferUpdate, (r) => node.inferWarm(r));
  setHandler(stopSignal, () => void (stop = true));
  await condition(() => stop);
}

/** (b) One long-running replica workflow on the L2's queue; each request an Update → an activity on the node's queue. */
export async function replicaWorkflow(input: { nodeQueue: string }): Promise<void> {
  const node = proxyActivities<Warm>({
    taskQueue: input.nodeQueue,
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 1 },
  });
  await serveUntilStopped(node);
}

/** (c) A workflow per request: start, one activity on the node's queue, result. */
export async function inferOnceWorkflow(input: {
  nodeQueue: string;
  request: InferRequest;
}): Promise<InferAnswer> {
  const node = proxyActivities<Warm>({
    taskQueue: input.nodeQueue,
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 1 },
  });
  return node.inferWarm(input.request);
}

/** (d) A replica workflow hosted by the node's own worker, the session behind a local activity. */
export async function nodeHostedReplicaWorkflow(): Promise<void> {
  const node = proxyLocalActivities<Warm>({
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 1 },
  });
  await serveUntilStopped(node);
}
