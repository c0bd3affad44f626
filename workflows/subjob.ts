// Over 300 lines because it is the SubJob's process and its named steps (choose, run, verify, accept or penalise), so it reads top to bottom.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  startChild,
  workflowInfo,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { DECLINE_ERROR, PROGRAM_ERROR, sealTo } from '../lib/pipeline';
import type {
  KeyholderActivities,
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
import { EmethJobId, EmethNode, EmethStatus } from '../lib/search-attributes';
import { checkSubmission, closeInputFault, endChainAttempt, isL1, pay } from './layers';
import { l2Control } from './control-steps';

const l2 = l2Control;

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
      if ((input.replicas ?? 1) > 1) {
        const round = await replicatedRound(input, exclude, attempt, tracker, () => status, setStatus);
        if (round === null) {
          await setStatus('failed');
          return outcome('failed', attempt, {
            reason: 'two nodes of this class did not come online before the deadline',
          });
        }
        attempt = round.attempts;
        if ('inputFault' in round) {
          await setStatus('failed');
          return outcome('failed', attempt, { reason: round.inputFault, fault: 'input' });
        }
        if (round.verified) {
          await setStatus('verified', round.verified.nodeId);
          return outcome('verified', attempt, round.verified);
        }
        continue;
      }
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
        await closeInputFault(input, task, node.nodeId);
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
        await accept(input, task, node.nodeId, end);
        await setStatus('verified', node.nodeId);
        if (!isL1(input)) await mixInCanary(input, node.nodeId, end.verdict.rowsChecked);
        return outcome('verified', attempt, {
          nodeId: node.nodeId,
          output: end.result.output,
          fuelUsed: end.verdict.fuelUsed,
        });
      }
      const { chainFailed, heldByAnother } = await penalise(plan.subJobId, node.nodeId, attempt, end, {
        input,
        task,
      });
      // A node refused on chain because another took the SubJob there may be asked again.
      if (!heldByAnother) exclude.push(node.nodeId);
      if (chainFailed) {
        await setStatus('failed');
        return outcome('failed', attempt, {
          reason: `EmethCore failed the SubJob after attempt ${attempt} (its retries spent, or the Job's deadline past): ${end.reason}`,
        });
      }
    }
    await setStatus('failed');
    return outcome('failed', attempt, { reason: `retries exhausted after ${attempt} attempts` });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled by the Job: close the open attempt without a penalty, then report.
    await CancellationScope.nonCancellable(async () => {
      for (const open of tracker.open) {
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

/** The attempts in flight (two under replication), so that a cancelled Job closes them (without a penalty). */
class AttemptTracker {
  open: { nodeId: string; attempt: number }[] = [];

  start(nodeId: string, attempt: number): void {
    this.open.push({ nodeId, attempt });
  }

  /** `attempt` is no longer in flight; without one, none is. */
  clear(attempt?: number): void {
    this.open = attempt === undefined ? [] : this.open.filter((o) => o.attempt !== attempt);
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
  return callNode(input, node, task, tracker, async (onNode) => ({
    // Sealed to the node's registered key: only that node (and the L2) can read its task.
    result: await onNode.runSubJob(sealTo([nodeKey], task)),
  }));
}

/** The node's activities on its own queue, with the node timeouts the L2 chose. */
function nodeOn(input: SubJobWorkflowInput, node: NodeChoice) {
  // On L1 the node has EmethCore's processing window to submit; past it the chain times it out.
  const remainingMs = Math.min(input.deadline - Date.now(), input.l1ProcessingMs ?? Infinity);
  return proxyActivities<NodeActivities>({
    taskQueue: `${input.dispatch.nodeQueuePrefix}${node.nodeId.toLowerCase()}`,
    scheduleToStartTimeout: Math.max(1000, Math.min(input.dispatch.nodePickupTimeoutMs, remainingMs)),
    startToCloseTimeout: Math.max(1000, remainingMs),
    heartbeatTimeout: input.dispatch.nodeHeartbeatTimeoutMs,
    retry: { maximumAttempts: 1 }, // a failed attempt is re-offered to another node, not retried here
  });
}

/** One call to the node for this attempt; its silence, decline or program failure, classified. */
async function callNode<T>(
  input: SubJobWorkflowInput,
  node: NodeChoice,
  task: NodeTask,
  tracker: AttemptTracker,
  call: (onNode: ReturnType<typeof nodeOn>) => Promise<T>,
): Promise<T | ProgramFailure | Extract<AttemptEnd, { declineSignature?: string }>> {
  tracker.start(node.nodeId, task.attempt);
  try {
    return await call(nodeOn(input, node));
  } catch (err) {
    // A cancelled Job closes this attempt in the workflow's cleanup, which needs the tracker.
    if (isCancellation(err)) throw err;
    tracker.clear(task.attempt);
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
 * Canaries (the policy's canaryRate, 0 unless the operator allows it): a SubJob just verified in
 * full is, at the L2's draw, re-issued to another node of its class as an ordinary-looking task
 * whose answer is already known. It runs in its own workflow, which this one does not wait for: the
 * Job settles as it would have, and the canary's node is checked on its own time.
 */
async function mixInCanary(
  input: SubJobWorkflowInput,
  checkedBy: string,
  rowsChecked: number,
): Promise<void> {
  const canary = await l2.planCanary({ subJobId: input.plan.subJobId, nodeId: checkedBy, rowsChecked });
  if (!canary) return;
  await startChild(canaryWorkflow, {
    workflowId: `${workflowInfo().workflowId}/canary-${canary.attempt}`,
    args: [{ subJob: input, ...canary }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    typedSearchAttributes: [
      { key: EmethJobId, value: input.jobId },
      { key: EmethNode, value: canary.nodeId },
    ],
  });
}

/** How long a canary's node has for it (the Job's own deadline may be close by then). */
const CANARY_DEADLINE_MS = 10 * 60_000;

export interface CanaryInput {
  subJob: SubJobWorkflowInput;
  nodeId: string;
  attempt: number;
  /** The SubJob's output, verified row by row: what an honest node answers. */
  knownOutput: string;
}

/**
 * A canary: the SubJob's task handed to `nodeId` on a new attempt, run like any other; an answer
 * with the known output's bytes passes, another is re-executed in full and, if wrong, rejected and
 * fined like any lie (half to the verifier). A canary earns its node reputation, never a ticket.
 */
export async function canaryWorkflow({
  subJob,
  nodeId,
  attempt,
  knownOutput,
}: CanaryInput): Promise<AttemptOutcome> {
  const input: SubJobWorkflowInput = { ...subJob, deadline: Date.now() + CANARY_DEADLINE_MS };
  const { subJobId } = input.plan;
  const opened = await l2.openAttempt({ subJobId, attempt, nodeId, canary: true });
  const node: NodeChoice = { nodeId: opened.nodeId, trackRecord: 0 };
  const ran = await runOnNode(input, node, opened.task, opened.nodeKey, new AttemptTracker());
  let end: Exclude<AttemptEnd, { outcome: 'verified' }> | { outcome: 'verified' };
  if ('result' in ran) {
    const bound = await l2.checkResult({ task: opened.task, nodeId: node.nodeId, result: ran.result });
    const same = bound.bound && (await sameBytes(input, knownOutput, ran.result.output));
    end = !bound.bound
      ? { outcome: 'timeout', reason: `no answer: ${bound.reason}` }
      : same
        ? { outcome: 'verified' }
        : await verify(input, node, opened.task, ran.result, 1);
  } else if ('programError' in ran) {
    end = await judgeFailure(input, node, opened.task, ran.programError);
  } else {
    end = ran;
  }
  if (end.outcome === 'verified' || end.outcome === 'undecided' || end.outcome === 'input-fault') {
    await l2.closeAttempt({
      subJobId,
      nodeId: node.nodeId,
      attempt,
      outcome: end.outcome === 'verified' ? 'verified' : 'cancelled',
      ...('reason' in end ? { reason: end.reason } : {}),
    });
    return end.outcome === 'verified' ? 'verified' : 'cancelled';
  }
  await penalise(subJobId, node.nodeId, attempt, end);
  return end.outcome;
}

/**
 * Whether two outputs of this SubJob hold the same bytes: equal ids, or, since each is sealed apart
 * (so equal contents get different ids), the verifier's reading of both. Nothing is re-executed.
 */
async function sameBytes(input: SubJobWorkflowInput, a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  const compared = await verifierOn(input, input.dispatch.verifierQueue).compareReplicas(
    sealTo(await l2.verifierKeys(), { jobId: input.jobId, subJobId: input.plan.subJobId, outputs: [a, b] }),
  );
  return compared.identical;
}

/** One replica's run: its node, its attempt's task, and how far it got. */
interface ReplicaRun {
  node: NodeChoice;
  task: NodeTask;
  /** The node's registered X25519 key its task is sealed to. */
  nodeKey: string;
  end?: AttemptEnd;
  result?: NodeResult;
}

/**
 * Replication (the requester's `replicate`): two independent nodes run the SubJob at once, each on
 * its own attempt. Each first commits to its signed result; only when both have answered phase 1
 * are they asked to reveal, so neither can copy the other. Results that agree bit for bit (same
 * output, same fuel) are checked by the verifier for binding, shape and fuel only; results that
 * differ, or a lone result, are re-executed in full, and a liar beside an honest twin pays its
 * fine to that twin. Returns the attempts used and the verified outcome, if any; null when two
 * nodes never came.
 */
async function replicatedRound(
  input: SubJobWorkflowInput,
  exclude: string[],
  attempt: number,
  tracker: AttemptTracker,
  status: () => SubJobStatus,
  setStatus: (s: SubJobStatus, nodeId?: string) => Promise<void>,
): Promise<
  | { attempts: number; verified?: Pick<SubJobOutcome, 'nodeId' | 'output' | 'fuelUsed'> }
  | { attempts: number; inputFault: string }
  | null
> {
  const { plan } = input;
  const first = await chooseNode(input, exclude, status, setStatus);
  const second = first ? await chooseNode(input, [...exclude, first.nodeId], status, setStatus) : null;
  if (!first || !second) return null;
  const runs: ReplicaRun[] = [];
  for (const [i, chosen] of [first, second].entries()) {
    const opened = await l2.openAttempt({
      subJobId: plan.subJobId,
      attempt: attempt + i + 1,
      nodeId: chosen.nodeId,
    });
    runs.push({ node: { ...chosen, nodeId: opened.nodeId }, task: opened.task, nodeKey: opened.nodeKey });
  }
  await setStatus('running', runs[0]!.node.nodeId);

  // Phase 1: both commit (or fail); phase 2 starts only once neither can still answer phase 1.
  const commits = await Promise.all(
    runs.map((r) =>
      callNode(input, r.node, r.task, tracker, async (onNode) => ({
        commitment: await onNode.commitSubJob(sealTo([r.nodeKey], r.task)),
      })),
    ),
  );
  await Promise.all(
    runs.map(async (r, i) => {
      const c = commits[i]!;
      if ('programError' in c) r.end = await judgeFailure(input, r.node, r.task, c.programError);
      else if (!('commitment' in c)) r.end = c;
      else {
        const revealed = await callNode(input, r.node, r.task, tracker, (onNode) =>
          onNode.revealSubJob(sealTo([r.nodeKey], { subJobId: plan.subJobId, attempt: r.task.attempt })),
        );
        if (!('result' in revealed)) {
          r.end =
            'programError' in revealed
              ? { outcome: 'timeout', reason: 'the replica failed to reveal' }
              : revealed;
          return;
        }
        const opened = await l2.checkReveal({ commitment: c.commitment.commitment, ...revealed });
        if (!opened.opened) r.end = { outcome: 'timeout', reason: `no answer: ${opened.reason}` };
        else r.result = revealed.result;
      }
    }),
  );
  tracker.clear();
  const fault = runs.find((r) => r.end?.outcome === 'input-fault');
  if (fault) {
    for (const r of runs) {
      await l2.closeAttempt({
        subJobId: plan.subJobId,
        nodeId: r.node.nodeId,
        attempt: r.task.attempt,
        outcome: r === fault ? 'input-fault' : 'cancelled',
        reason: (fault.end as { reason: string }).reason,
      });
    }
    return { attempts: attempt + 2, inputFault: (fault.end as { reason: string }).reason };
  }

  await setStatus('verifying', runs[0]!.node.nodeId);
  const [a, b] = runs as [ReplicaRun, ReplicaRun];
  // Agreement is the same bytes and the same fuel: read and compared by the verifier, not re-run.
  const agree =
    a.result !== undefined &&
    b.result !== undefined &&
    a.result.fuelUsed === b.result.fuelUsed &&
    (await sameBytes(input, a.result.output, b.result.output));
  for (const r of runs) {
    if (!r.result) continue;
    r.end = await verify(input, r.node, r.task, r.result, agree ? 0 : 1);
  }
  // A liar beside an honest, verified twin: the twin proved the lie, and is paid its share of the fine.
  const honest = runs.find((r) => r.end?.outcome === 'verified');
  for (const r of runs) {
    if (r.end?.outcome === 'rejected' && honest) r.end = { ...r.end, prover: honest.node.nodeId };
  }

  let verified: ReplicaRun | undefined;
  for (const r of runs) {
    const end = r.end!;
    if (end.outcome === 'verified') {
      await l2.acceptResult({
        task: r.task,
        nodeId: r.node.nodeId,
        result: end.result,
        verdict: end.verdict,
        ...(verified ? { replica: true } : {}),
      });
      await l2.closeAttempt({
        subJobId: plan.subJobId,
        nodeId: r.node.nodeId,
        attempt: r.task.attempt,
        outcome: 'verified',
      });
      verified ??= r;
    } else if (end.outcome === 'undecided') {
      await l2.closeAttempt({
        subJobId: plan.subJobId,
        nodeId: r.node.nodeId,
        attempt: r.task.attempt,
        outcome: 'cancelled',
        reason: end.reason,
      });
      exclude.push(r.node.nodeId);
    } else if (end.outcome !== 'input-fault') {
      await penalise(plan.subJobId, r.node.nodeId, r.task.attempt, end);
      exclude.push(r.node.nodeId);
    }
  }
  if (!verified) return { attempts: attempt + 2 };
  await l2.issueTicket({ subJobId: plan.subJobId });
  const end = verified.end as Extract<AttemptEnd, { outcome: 'verified' }>;
  return {
    attempts: attempt + 2,
    verified: { nodeId: verified.node.nodeId, output: end.result.output, fuelUsed: end.verdict.fuelUsed },
  };
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
  /** Replication fixes the share itself: 0 when the replicas agree, 1 to settle a disagreement. */
  forcedSampleRate?: number,
): Promise<AttemptEnd> {
  const { plan } = input;
  // A result that is not the assigned node's signed answer to this very task is no answer at all.
  const binding = await l2.checkResult({ task, nodeId: node.nodeId, result });
  if (!binding.bound) return { outcome: 'timeout', reason: `no answer: ${binding.reason}` };
  const submitted = await checkSubmission(input, task, node.nodeId, result);
  if (!submitted.bound) return { outcome: 'timeout', reason: `no answer on chain: ${submitted.reason}` };
  const planned = await l2.planCheck({ subJobId: plan.subJobId, attempt: task.attempt, nodeId: node.nodeId });
  const check = forcedSampleRate === undefined ? planned : { ...planned, sampleRate: forcedSampleRate };
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
  // On L1 the verifier's role on EmethCore is the paper's check (7-2): its verdict is not audited.
  const verdict = isL1(input)
    ? first
    : await auditVerdict(input, task, result, first, check.sampleRate, sealed);
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
      const chosen = await l2.chooseVerifier({
        subJobId: task.subJobId,
        attempt: task.attempt,
        exclude: asked,
      });
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

/**
 * Step 4a: the verified result is recorded, paid (L2: tickets after the attempt closes; L1: the
 * verifier's `verify` on chain before it does) and the attempt closed as the node's success.
 */
async function accept(
  input: SubJobWorkflowInput,
  task: NodeTask,
  nodeId: string,
  end: Extract<AttemptEnd, { outcome: 'verified' }>,
): Promise<void> {
  await l2.acceptResult({ task, nodeId, result: end.result, verdict: end.verdict });
  if (isL1(input)) await pay(input, task, nodeId, end.result, end.verdict);
  await l2.closeAttempt({ subJobId: task.subJobId, nodeId, attempt: task.attempt, outcome: 'verified' });
  if (!isL1(input)) await pay(input, task, nodeId, end.result, end.verdict);
}

/**
 * Step 4b: the attempt closed with the node's failure, which burns its penalty once: on L2 from
 * its stake by the L2, on L1 by EmethCore when a verifier ends the chain's attempt (`on`).
 */
async function penalise(
  subJobId: string,
  nodeId: string,
  attempt: number,
  end: Exclude<AttemptEnd, { outcome: 'verified' | 'input-fault' | 'undecided' }>,
  on?: { input: SubJobWorkflowInput; task: NodeTask },
): Promise<{ chainFailed: boolean; heldByAnother: boolean }> {
  const chain = on
    ? await endChainAttempt(on.input, on.task, nodeId, end.outcome === 'rejected', end.prover)
    : { chainFailed: false, heldByAnother: false };
  await l2.closeAttempt({
    subJobId,
    nodeId,
    attempt,
    outcome: end.outcome,
    reason: end.reason,
    declineSignature: end.declineSignature,
    ...(end.prover ? { prover: end.prover } : {}),
  });
  return chain;
}
