import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  defineSignal,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { DECLINE_ERROR } from '../lib/pipeline';
import type {
  KeyholderActivities,
  L2Activities,
  NodeResult,
  NodeActivities,
  NodeChoice,
  SubJobOutcome,
  SubJobWorkflowInput,
  VerifierActivities,
} from '../lib/pipeline';
import type { AttemptOutcome, SubJobStatus } from '../lib/types';
import { EmethNode, EmethStatus } from '../lib/search-attributes';

/** A node gives a SubJob back; it pays the decline penalty and the SubJob is re-offered. */
export const declineSignal = defineSignal<[{ nodeId: string }]>('decline');

// The SubJob's control steps are short database (and, for penalties, chain) calls on the L2
// worker that runs this workflow: local activities skip a server round trip each.
const l2 = proxyLocalActivities<L2Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500 ms', maximumInterval: '10 seconds', maximumAttempts: 20 },
});

/** Nodes with fewer completed SubJobs than this have every row re-checked. */
const TRACK_RECORD_FOR_SPOT_CHECKS = 3;
const SPOT_CHECK_RATE = 0.1;

/**
 * One SubJob from offer to verified result: choose a node, run the program on its queue, have a
 * third party verify it; a node that is silent, declines or lies pays its penalty and the SubJob
 * is offered to another, up to maxAttempts. Returns how it ended; never throws for node faults.
 */
export async function subJobWorkflow(input: SubJobWorkflowInput): Promise<SubJobOutcome> {
  const { plan, dispatch } = input;
  const verifier = proxyActivities<VerifierActivities>({
    taskQueue: dispatch.verifierQueue,
    startToCloseTimeout: '10 minutes',
    // A verifier's failure is not the node's fault: try again, the result waits.
    retry: { maximumAttempts: 5, initialInterval: '1 second' },
  });
  const exclude: string[] = [];
  let current: { nodeId: string; attempt: number; scope: CancellationScope } | undefined;
  let declinedBy: string | undefined;

  setHandler(declineSignal, ({ nodeId }) => {
    if (current && current.nodeId.toLowerCase() === nodeId.toLowerCase()) {
      declinedBy = current.nodeId;
      current.scope.cancel();
    }
  });

  let status: SubJobStatus = 'pending';
  const setStatus = async (next: SubJobStatus, nodeId?: string) => {
    status = next;
    upsertSearchAttributes([
      { key: EmethStatus, value: next },
      ...(nodeId ? [{ key: EmethNode, value: nodeId }] : []),
    ]);
    await l2.setSubJobStatus(plan.subJobId, next, nodeId);
  };
  const outcome = (
    s: SubJobOutcome['status'],
    attempts: number,
    extra: Partial<SubJobOutcome> = {},
  ): SubJobOutcome => ({
    subJobId: plan.subJobId,
    index: plan.index,
    status: s,
    attempts,
    ...extra,
  });

  let attempt = 0;
  try {
    while (attempt < input.maxAttempts) {
      const node = await waitForNode(input, exclude, () => status, setStatus);
      if (!node) {
        await setStatus('failed');
        return outcome('failed', attempt, {
          reason: 'no node of this class came online before the deadline',
        });
      }
      attempt += 1;
      declinedBy = undefined;
      await setStatus('assigned', node.nodeId);
      const task = await l2.nodeTask({ subJobId: plan.subJobId, attempt, nodeId: node.nodeId });
      const remainingMs = input.deadline - Date.now();
      const onNode = proxyActivities<NodeActivities>({
        taskQueue: `${dispatch.nodeQueuePrefix}${node.nodeId.toLowerCase()}`,
        scheduleToStartTimeout: Math.max(1000, Math.min(dispatch.nodePickupTimeoutMs, remainingMs)),
        startToCloseTimeout: Math.max(1000, remainingMs),
        heartbeatTimeout: dispatch.nodeHeartbeatTimeoutMs,
        retry: { maximumAttempts: 1 }, // a failed attempt is re-offered to another node, not retried here
      });

      let failure: AttemptOutcome = 'timeout';
      let reason = '';
      let result: NodeResult | undefined;
      try {
        const scope = new CancellationScope();
        current = { nodeId: node.nodeId, attempt, scope };
        await setStatus('running', node.nodeId);
        result = await scope.run(() => onNode.runSubJob(task));
      } catch (err) {
        // A cancelled Job closes this attempt in the cleanup below, which needs `current`.
        if (isCancellation(err) && !declinedBy) throw err;
        if (declinedBy) {
          failure = 'declined';
          reason = 'the node declined';
        } else if (
          err instanceof ActivityFailure &&
          err.cause instanceof ApplicationFailure &&
          err.cause.type === DECLINE_ERROR
        ) {
          failure = 'declined';
          reason = err.cause.message;
        } else {
          failure = 'timeout';
          reason =
            err instanceof ActivityFailure && err.cause instanceof TimeoutFailure
              ? `the node did not answer (${err.cause.timeoutType !== undefined ? String(err.cause.timeoutType) : 'timeout'})`
              : `the node failed: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`;
        }
      }

      if (result) {
        // From here on nothing is the node's fault but a rejected result: verifier and keyholder
        // errors propagate (and are retried by their activities) instead of penalising the node.
        await setStatus('verifying', node.nodeId);
        const sampleRate = node.trackRecord < TRACK_RECORD_FOR_SPOT_CHECKS ? 1 : SPOT_CHECK_RATE;
        // Training updates are encrypted to the requester: for a checked SubJob the keyholder opens
        // this one update for the verifier (the requester owns the data; the payload codec keeps it
        // from the Temporal server).
        let plainUpdate: number[] | undefined;
        let unopenable: string | undefined;
        if (input.keyholderQueue && Math.random() < sampleRate) {
          const keyholder = proxyActivities<KeyholderActivities>({
            taskQueue: input.keyholderQueue,
            startToCloseTimeout: '5 minutes',
            scheduleToStartTimeout: Math.max(1000, input.deadline - Date.now()),
            retry: { maximumAttempts: 3 },
          });
          await l2.shareWithRequester({ jobId: input.jobId, blob: result.output });
          const opened = await keyholder.decryptUpdate({
            jobId: input.jobId,
            subJobId: plan.subJobId,
            update: result.output,
          });
          if ('rejected' in opened)
            unopenable = `the update does not open under the requester's key: ${opened.rejected}`;
          else plainUpdate = opened.values;
        }
        const verdict = unopenable
          ? undefined
          : await verifier.verifySubJob({
              jobId: input.jobId,
              subJobId: plan.subJobId,
              programId: plan.programId,
              shard: task.shard,
              modelBlobId: task.modelBlobId,
              params: task.params,
              plainUpdate,
              attempt,
              result,
              sampleRate,
              // Chosen by the workflow, never by the node; replay-safe (the SDK seeds Math.random).
              seed: `${plan.subJobId}:${attempt}:${Math.floor(Math.random() * 2 ** 31)}`,
              fuelLimit: plan.fuelLimit,
            });
        current = undefined;
        if (verdict?.valid) {
          await l2.acceptResult({ result, verdict, attempt });
          await l2.closeAttempt({
            subJobId: plan.subJobId,
            nodeId: node.nodeId,
            attempt,
            outcome: 'verified',
          });
          await setStatus('verified', node.nodeId);
          return outcome('verified', attempt, {
            nodeId: node.nodeId,
            output: result.output,
            fuelUsed: verdict.fuelUsed,
          });
        }
        failure = 'rejected';
        reason = unopenable ?? verdict?.reason ?? 'the verifier rejected the result';
      }
      current = undefined;
      await l2.closeAttempt({
        subJobId: plan.subJobId,
        nodeId: node.nodeId,
        attempt,
        outcome: failure,
        reason,
      });
      exclude.push(node.nodeId);
    }
    await setStatus('failed');
    return outcome('failed', attempt, { reason: `retries exhausted after ${attempt} attempts` });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled by the Job: close the open attempt without a penalty, then report.
    await CancellationScope.nonCancellable(async () => {
      if (current) {
        await l2.closeAttempt({
          subJobId: plan.subJobId,
          nodeId: current.nodeId,
          attempt: current.attempt,
          outcome: 'cancelled',
        });
      }
      await setStatus('cancelled');
    });
    return outcome('cancelled', attempt);
  }
}

/** Polls for an eligible node, showing `waiting-for-node` meanwhile; null once the deadline passes. */
async function waitForNode(
  input: SubJobWorkflowInput,
  exclude: string[],
  status: () => SubJobStatus,
  setStatus: (s: SubJobStatus) => Promise<void>,
): Promise<NodeChoice | null> {
  let backoffMs = 1000;
  for (;;) {
    const choice = await l2.chooseNode({
      jobId: input.jobId,
      subJobId: input.plan.subJobId,
      capabilityClass: input.capabilityClass,
      exclude,
    });
    if (choice) return choice;
    const left = input.deadline - Date.now();
    if (left <= 0) return null;
    if (status() !== 'waiting-for-node') await setStatus('waiting-for-node');
    await sleep(Math.min(backoffMs, left));
    backoffMs = Math.min(backoffMs * 2, 10_000);
  }
}
