// Over 300 lines because it is the SubJob's process and its named steps (choose, run, verify, accept or penalise), so it reads top to bottom.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { DECLINE_ERROR, PROGRAM_ERROR, sealTo } from '../lib/pipeline';
import type {
  KeyholderActivities,
  L2Activities,
  NodeActivities,
  NodeChoice,
  NodeResult,
  NodeTask,
  SubJobOutcome,
  SubJobWorkflowInput,
  Verdict,
  VerifierActivities,
  VerifyTask,
} from '../lib/pipeline';
import type { AttemptOutcome, SubJobStatus } from '../lib/types';
import { reasonOf } from './failures';
import { EmethNode, EmethStatus } from '../lib/search-attributes';

// The SubJob's control steps are short database (and, for penalties, chain) calls on the L2
// worker that runs this workflow: local activities skip a server round trip each.
const l2 = proxyLocalActivities<L2Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500 ms', maximumInterval: '10 seconds', maximumAttempts: 20 },
});

/** How one attempt ended, before it is closed: a verified result, or a failure the node pays for. */
type AttemptEnd =
  | { outcome: 'verified'; result: NodeResult; verdict: Verdict }
  | { outcome: 'input-fault'; reason: string }
  /** Verifiers disagreed and no referee came: nobody is proven wrong, the SubJob goes elsewhere. */
  | { outcome: 'undecided'; reason: string }
  | {
      outcome: Exclude<AttemptOutcome, 'verified' | 'cancelled' | 'input-fault'>;
      reason: string;
      declineSignature?: string;
      /** A rejection's prover: the verifier whose upheld verdict proved the lie. */
      prover?: string;
    };

/** The program failed on the node; whose fault that is, the verifier's re-run decides. */
interface ProgramFailure {
  programError: { code: string; message: string };
}

/**
 * One SubJob from offer to verified result: choose a node → run the program on its queue → have a
 * third party verify the result → accept it, or penalise the node and offer the SubJob to another,
 * up to maxAttempts. Returns how it ended; never throws for node faults.
 */
export async function subJobWorkflow(input: SubJobWorkflowInput): Promise<SubJobOutcome> {
  const { plan } = input;
  const exclude: string[] = [];
  const tracker = new AttemptTracker();

  let status: SubJobStatus = 'pending';
  const setStatus = async (next: SubJobStatus, nodeId?: string) => {
    status = next;
    upsertSearchAttributes([
      { key: EmethStatus, value: next },
      ...(nodeId ? [{ key: EmethNode, value: nodeId }] : []),
    ]);
    await l2.setSubJobStatus(plan.subJobId, next, nodeId);
  };
  const outcome = (s: SubJobOutcome['status'], attempts: number, extra: Partial<SubJobOutcome> = {}) => ({
    subJobId: plan.subJobId,
    index: plan.index,
    status: s,
    attempts,
    ...extra,
  });

  let attempt = 0;
  try {
    while (attempt < input.maxAttempts) {
      const chosen = await chooseNode(input, exclude, () => status, setStatus);
      if (!chosen) {
        await setStatus('failed');
        return outcome('failed', attempt, {
          reason: 'no node of this class came online before the deadline',
        });
      }
      attempt += 1;
      const opened = await l2.openAttempt({ subJobId: plan.subJobId, attempt, nodeId: chosen.nodeId });
      // The attempt's node of record (the same as chosen, unless an L2 crash made the workflow choose again).
      const node: NodeChoice = { ...chosen, nodeId: opened.nodeId };
      const { task, nodeKey } = opened;
      await setStatus('assigned', node.nodeId);

      await setStatus('running', node.nodeId);
      const ran = await runOnNode(input, node, task, nodeKey, tracker);
      let end: AttemptEnd;
      if ('result' in ran) {
        await setStatus('verifying', node.nodeId);
        try {
          end = await verify(input, node, task, ran.result);
        } catch (err) {
          if (isCancellation(err)) throw err;
          // No verifier or keyholder came in time (or they kept failing): not the node's fault.
          // The attempt closes without a penalty and the SubJob fails; the Job settles.
          tracker.clear();
          const reason = `the result could not be verified: ${reasonOf(err)}`;
          await l2.closeAttempt({
            subJobId: plan.subJobId,
            nodeId: node.nodeId,
            attempt,
            outcome: 'cancelled',
            reason,
          });
          await setStatus('failed', node.nodeId);
          return outcome('failed', attempt, { reason });
        }
      } else if ('programError' in ran) {
        end = await judgeFailure(input, node, task, ran.programError);
      } else {
        end = ran;
      }
      tracker.clear();

      if (end.outcome === 'input-fault') {
        // The requester's input fails on every executor: no node pays, and retrying cannot help.
        await l2.closeAttempt({
          subJobId: plan.subJobId,
          nodeId: node.nodeId,
          attempt,
          outcome: 'input-fault',
          reason: end.reason,
        });
        await setStatus('failed', node.nodeId);
        return outcome('failed', attempt, { reason: end.reason, fault: 'input' });
      }

      if (end.outcome === 'undecided') {
        await l2.closeAttempt({
          subJobId: plan.subJobId,
          nodeId: node.nodeId,
          attempt,
          outcome: 'cancelled',
          reason: end.reason,
        });
        exclude.push(node.nodeId);
        continue;
      }

      if (end.outcome === 'verified') {
        await accept(task, node.nodeId, end);
        await setStatus('verified', node.nodeId);
        return outcome('verified', attempt, {
          nodeId: node.nodeId,
          output: end.result.output,
          fuelUsed: end.verdict.fuelUsed,
        });
      }
      await penalise(plan.subJobId, node.nodeId, attempt, end);
      exclude.push(node.nodeId);
    }
    await setStatus('failed');
    return outcome('failed', attempt, { reason: `retries exhausted after ${attempt} attempts` });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled by the Job: close the open attempt without a penalty, then report.
    await CancellationScope.nonCancellable(async () => {
      const open = tracker.current;
      if (open) {
        await l2.closeAttempt({
          subJobId: plan.subJobId,
          nodeId: open.nodeId,
          attempt: open.attempt,
          outcome: 'cancelled',
        });
      }
      await setStatus('cancelled');
    });
    return outcome('cancelled', attempt);
  }
}

/** The attempt in flight, so that a cancelled Job closes it (without a penalty). */
class AttemptTracker {
  current: { nodeId: string; attempt: number } | undefined;

  start(nodeId: string, attempt: number): void {
    this.current = { nodeId, attempt };
  }

  clear(): void {
    this.current = undefined;
  }
}

/** Step 1: an eligible node, showing `waiting-for-node` meanwhile; null once the deadline passes. */
async function chooseNode(
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

/** Step 2: the program on the node's own queue; silence, a decline or a crash is the node's failure. */
async function runOnNode(
  input: SubJobWorkflowInput,
  node: NodeChoice,
  task: NodeTask,
  nodeKey: string,
  tracker: AttemptTracker,
): Promise<{ result: NodeResult } | ProgramFailure | Extract<AttemptEnd, { declineSignature?: string }>> {
  const remainingMs = input.deadline - Date.now();
  const onNode = proxyActivities<NodeActivities>({
    taskQueue: `${input.dispatch.nodeQueuePrefix}${node.nodeId.toLowerCase()}`,
    scheduleToStartTimeout: Math.max(1000, Math.min(input.dispatch.nodePickupTimeoutMs, remainingMs)),
    startToCloseTimeout: Math.max(1000, remainingMs),
    heartbeatTimeout: input.dispatch.nodeHeartbeatTimeoutMs,
    retry: { maximumAttempts: 1 }, // a failed attempt is re-offered to another node, not retried here
  });
  tracker.start(node.nodeId, task.attempt);
  try {
    // Sealed to the node's registered key: only that node (and the L2) can read its task.
    return { result: await onNode.runSubJob(sealTo([nodeKey], task)) };
  } catch (err) {
    // A cancelled Job closes this attempt in the workflow's cleanup, which needs the tracker.
    if (isCancellation(err)) throw err;
    tracker.clear();
    const declined = nodeFailure(err, DECLINE_ERROR);
    if (declined) {
      // Counted as a decline only if the signature in it is the assigned node's (closeAttempt checks).
      return {
        outcome: 'declined',
        reason: declined.message,
        ...(declined.detail ? { declineSignature: declined.detail } : {}),
      };
    }
    const failed = nodeFailure(err, PROGRAM_ERROR);
    if (failed) return { programError: { code: failed.detail ?? 'Error', message: failed.message } };
    return {
      outcome: 'timeout',
      reason:
        err instanceof ActivityFailure && err.cause instanceof TimeoutFailure
          ? `the node did not answer (${err.cause.timeoutType !== undefined ? String(err.cause.timeoutType) : 'timeout'})`
          : `the node failed: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`,
    };
  }
}

/** The node's own failure of `type` (its message and first detail string), if that is what `err` is. */
function nodeFailure(err: unknown, type: string): { message: string; detail?: string } | undefined {
  if (!(
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === type
  )) {
    return undefined;
  }
  const [detail] = (err.cause.details ?? []) as unknown[];
  return { message: err.cause.message, ...(typeof detail === 'string' ? { detail } : {}) };
}

/**
 * Step 3: the check the program's policy plans for this attempt, by the verifier (and, for results
 * encrypted to the requester, the keyholder). From here on nothing is the node's fault but a
 * rejected result: verifier and keyholder errors propagate (their activities retry) instead of
 * penalising the node.
 */
async function verify(
  input: SubJobWorkflowInput,
  node: NodeChoice,
  task: NodeTask,
  result: NodeResult,
): Promise<AttemptEnd> {
  const { plan } = input;
  // A result that is not the assigned node's signed answer to this very task is no answer at all.
  const binding = await l2.checkResult({ task, nodeId: node.nodeId, result });
  if (!binding.bound) return { outcome: 'timeout', reason: `no answer: ${binding.reason}` };
  const check = await l2.planCheck({ subJobId: plan.subJobId, attempt: task.attempt, nodeId: node.nodeId });
  const verifierKeys = await l2.verifierKeys();
  let sealedUpdate: string | undefined;
  if (check.openWithKeyholder && input.keyholderQueue) {
    const opened = await openWithKeyholder(input, input.keyholderQueue, result, verifierKeys);
    if ('rejected' in opened) {
      return {
        outcome: 'rejected',
        reason: `the update does not open under the requester's key: ${opened.rejected}`,
      };
    }
    sealedUpdate = opened.sealedValues;
  }
  const sealed = (sampleRate: number, seed: string) =>
    sealTo(verifierKeys, {
      ...task,
      node: node.nodeId,
      ...(sealedUpdate ? { sealedUpdate } : {}),
      result,
      sampleRate,
      seed,
    });
  const first = await verifierOn(input, input.dispatch.verifierQueue).verifySubJob(
    sealed(check.sampleRate, check.seed),
  );
  const verdict = await auditVerdict(input, task, result, first, check.sampleRate, sealed);
  if (verdict === 'undecided') {
    return { outcome: 'undecided', reason: 'the verifiers disagreed and no referee came' };
  }
  if (verdict.valid) return { outcome: 'verified', result, verdict };
  return {
    outcome: 'rejected',
    reason: verdict.reason ?? 'the verifier rejected the result',
    prover: verdict.verifier,
  };
}

/** The verifier activities on `taskQueue`: the shared queue of first verdicts, or one verifier's own. */
function verifierOn(input: SubJobWorkflowInput, taskQueue: string, pickupMs?: number) {
  const untilDeadline = Math.max(1000, input.deadline - Date.now());
  return proxyActivities<VerifierActivities>({
    taskQueue,
    // A verifier that never comes fails the SubJob at the Job's deadline instead of holding it.
    scheduleToStartTimeout: pickupMs ? Math.min(pickupMs, untilDeadline) : untilDeadline,
    startToCloseTimeout: '10 minutes',
    // A verifier's failure is not the node's fault: try again, the result waits.
    retry: { maximumAttempts: pickupMs ? 2 : 5, initialInterval: '1 second' },
  });
}

/** How long an auditor or referee, asked on its own queue, has to pick its task up before another is asked. */
const AUDIT_PICKUP_MS = 60_000;
const MAX_AUDITOR_TRIES = 3;

/**
 * Step 3a: the verdict itself may be a lie. The L2 draws whether a second verifier re-checks it
 * (every rejection, a sample of acceptances); a disagreement goes to a third, whose side stands,
 * and the verifier it overrules is fined. An auditor that does not come leaves the verdict
 * unaudited; a referee that does not come leaves the attempt undecided (no one is proven wrong).
 */
async function auditVerdict(
  input: SubJobWorkflowInput,
  task: NodeTask,
  result: NodeResult,
  first: Verdict,
  sampleRate: number,
  sealed: (sampleRate: number, seed: string) => VerifyTask,
): Promise<Verdict | 'undecided'> {
  const audit = await l2.planVerdictAudit({ verdict: first, sampleRate });
  if (!audit) return first;
  const asked: string[] = [first.verifier];
  /** A verdict from another online verifier; one that does not pick the task up is passed over. */
  const another = async (rate: number, seed?: string): Promise<Verdict | undefined> => {
    for (let tries = 0; tries < MAX_AUDITOR_TRIES; tries++) {
      const chosen = await l2.chooseVerifier({ subJobId: task.subJobId, attempt: task.attempt, exclude: asked });
      if (!chosen) return undefined;
      asked.push(chosen.verifier);
      const queue = `${input.dispatch.verifierQueuePrefix ?? `${input.dispatch.verifierQueue}-`}${chosen.verifier.toLowerCase()}`;
      try {
        return await verifierOn(input, queue, AUDIT_PICKUP_MS).verifySubJob(
          sealed(rate, seed ?? chosen.seed),
        );
      } catch (err) {
        if (isCancellation(err)) throw err;
      }
    }
    return undefined;
  };
  const second = await another(audit.sampleRate, audit.seed);
  if (!second) return first; // no auditor came: the verdict stands unaudited
  let referee: Verdict | undefined;
  if (second.valid !== first.valid) {
    referee = await another(1);
    if (!referee) return 'undecided';
  }
  return l2.settleVerdictAudit({
    output: result.output,
    verdicts: { first, audit: second, ...(referee ? { referee } : {}) },
  });
}

/**
 * Step 3′: the program failed on the node. The verifier re-runs the same input: the same program
 * error there means the requester's input is at fault (no penalty); a clean run there means an
 * honest executor would not have failed, and the node pays as for a timeout.
 */
async function judgeFailure(
  input: SubJobWorkflowInput,
  node: NodeChoice,
  task: NodeTask,
  failure: ProgramFailure['programError'],
): Promise<AttemptEnd> {
  const verifier = proxyActivities<VerifierActivities>({
    taskQueue: input.dispatch.verifierQueue,
    scheduleToStartTimeout: Math.max(1000, input.deadline - Date.now()),
    startToCloseTimeout: '10 minutes',
    retry: { maximumAttempts: 5, initialInterval: '1 second' },
  });
  const rerun = await verifier.reproduceFailure(
    sealTo(await l2.verifierKeys(), { task, node: node.nodeId, ...failure }),
  );
  if (rerun.reproduced) {
    return {
      outcome: 'input-fault',
      reason: `the requester's input fails on every executor: ${failure.message}`,
    };
  }
  return {
    outcome: 'timeout',
    reason: `the node failed (${failure.code}: ${failure.message}) where the verifier's re-run ${rerun.code ? `failed otherwise (${rerun.code})` : 'succeeded'}`,
  };
}

/** An encrypted output (a training update, a shard's statistics): the requester's keyholder opens this one for the verifier (the requester owns the data). */
async function openWithKeyholder(
  input: SubJobWorkflowInput,
  keyholderQueue: string,
  result: NodeResult,
  verifierKeys: string[],
): ReturnType<KeyholderActivities['decryptUpdate']> {
  const keyholder = proxyActivities<KeyholderActivities>({
    taskQueue: keyholderQueue,
    startToCloseTimeout: '5 minutes',
    scheduleToStartTimeout: Math.max(1000, input.deadline - Date.now()),
    retry: { maximumAttempts: 3 },
  });
  await l2.shareWithRequester({ jobId: input.jobId, blob: result.output });
  // The decrypted values come back sealed to the verifiers alone: the L2 passes them on unread.
  return keyholder.decryptUpdate(
    sealTo([await l2.keyholderKey(input.requester)], {
      jobId: input.jobId,
      subJobId: input.plan.subJobId,
      programId: input.plan.programId,
      update: result.output,
      sealValuesTo: verifierKeys,
    }),
  );
}

/** Step 4a: the verified result is recorded and the attempt closed as the node's success. */
async function accept(
  task: NodeTask,
  nodeId: string,
  end: Extract<AttemptEnd, { outcome: 'verified' }>,
): Promise<void> {
  await l2.acceptResult({ task, nodeId, result: end.result, verdict: end.verdict });
  await l2.closeAttempt({ subJobId: task.subJobId, nodeId, attempt: task.attempt, outcome: 'verified' });
  await l2.issueTicket({ subJobId: task.subJobId });
}

/** Step 4b: the attempt closed with the node's failure, which burns its penalty once. */
async function penalise(
  subJobId: string,
  nodeId: string,
  attempt: number,
  end: Exclude<AttemptEnd, { outcome: 'verified' | 'input-fault' | 'undecided' }>,
): Promise<void> {
  await l2.closeAttempt({
    subJobId,
    nodeId,
    attempt,
    outcome: end.outcome,
    reason: end.reason,
    declineSignature: end.declineSignature,
    ...(end.prover ? { prover: end.prover } : {}),
  });
}
