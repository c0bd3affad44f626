/**
 * The steps where an L1 Job (paper 7-2) differs from an L2 one (7-3), behind one set of functions
 * the Job and SubJob workflows call for both layers (lib/pipeline/layer.ts has the table). On L2
 * each is nothing, or what the L2 did before; on L1 it is a transaction on EmethCore by the party
 * the paper names — the L1 server (the L2 key), the node, the verifier — read back from the chain's
 * own events into the Job's view. No I/O here: activities do it.
 */
import { proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import { l2Control } from './control-steps';
import { sealTo } from '../lib/pipeline';
import type {
  L1ActionInput,
  NodeResult,
  NodeTask,
  SubJobWorkflowInput,
  Verdict,
  VerifierActivities,
} from '../lib/pipeline';

const l2 = l2Control;

/** How long a verdict's own verifier has to pick up its chain step before any verifier is asked. */
const OWN_VERIFIER_PICKUP_MS = 60_000;
/** Past a chain due time before a timeout is sent: the next block's timestamp must exceed it. */
const CHAIN_SLACK_MS = 2_000;

export const isL1 = (input: { layer?: string }): boolean => input.layer === 'l1';

/** A verifier's chain step on `taskQueue`; `pickupMs` bounds how long it may wait to be picked up. */
function chainVerifier(taskQueue: string, pickupMs?: number) {
  return proxyActivities<VerifierActivities>({
    taskQueue,
    ...(pickupMs ? { scheduleToStartTimeout: pickupMs } : {}),
    startToCloseTimeout: '2 minutes',
    // A revert that is only early (NotOverdue) or an RPC hiccup passes on retry; the chain's refusal
    // of a step already done is answered as done by the activity.
    retry: {
      initialInterval: '2 seconds',
      maximumInterval: '20 seconds',
      maximumAttempts: pickupMs ? 2 : 10,
    },
  });
}

/** One chain step by a verifier: the verdict's own verifier first (it earns the fee), else any. */
async function actOnChain(
  dispatch: SubJobWorkflowInput['dispatch'],
  step: L1ActionInput,
  verifier?: string,
): Promise<void> {
  // Participants read only what is sealed to their keys: any verifier may act, so all can open it.
  const sealed = sealTo(await l2.verifierKeys(), step);
  if (verifier) {
    const own = `${dispatch.verifierQueuePrefix ?? `${dispatch.verifierQueue}-`}${verifier.toLowerCase()}`;
    try {
      await chainVerifier(own, OWN_VERIFIER_PICKUP_MS).actOnL1(sealed);
      return;
    } catch {
      // Not picked up (or failing): the shared queue's verifiers hold VERIFIER_ROLE too.
    }
  }
  await chainVerifier(dispatch.verifierQueue).actOnL1(sealed);
}

/** After the split: L1 registers the SubJobs on EmethCore; returns the node's processing window. */
export async function openSubJobs(jobId: string): Promise<{ processingMs: number } | null> {
  const opened = await l2.openSubJobsOnLayer(jobId);
  if (opened) await l2.recordChainSteps(jobId);
  return opened;
}

/**
 * L1 only, after the node answered: the chain must hold exactly this signed result as the
 * SubJob's submission. L2: nothing to check.
 */
export async function checkSubmission(
  input: SubJobWorkflowInput,
  task: NodeTask,
  nodeId: string,
  result: NodeResult,
): Promise<{ bound: true } | { bound: false; reason: string }> {
  if (!isL1(input)) return { bound: true };
  const checked = await l2.checkL1Submission({ task, nodeId, result });
  await l2.recordChainSteps(input.jobId);
  return checked.bound ? { bound: true } : checked;
}

/**
 * A verified result paid. L2: its tickets (the Signer batches them). L1: the verifier's `verify`
 * on EmethCore, which pays the node, refunds the unused fuel and earns its fee, in one transaction.
 */
export async function pay(
  input: SubJobWorkflowInput,
  task: NodeTask,
  nodeId: string,
  result: NodeResult,
  verdict: Verdict,
): Promise<void> {
  if (!isL1(input) || !task.l1) {
    await l2.issueTicket({ subJobId: task.subJobId });
    return;
  }
  const checked = await l2.checkL1Submission({ task, nodeId, result });
  if (!checked.bound) throw new Error(`SubJob ${task.subJobId}: ${checked.reason}`);
  await actOnChain(
    input.dispatch,
    { jobId: input.jobId, index: task.l1.index, action: 'verify', attempt: 0, expect: checked.expect },
    verdict.verifier,
  );
  await l2.recordChainSteps(input.jobId);
}

/**
 * A failed attempt, before it is closed. L2: nothing (closeAttempt burns the L2 penalty). L1: the
 * chain's attempt is ended by a verifier as EmethCore's rules say — a submitted result `reject`ed,
 * a SubJob still processing at its deadline `timeout`ed (whoever holds it on chain: the assigned
 * node, or one that took it unasked) — and the chain's events recorded. Returns whether the chain
 * failed the SubJob (its retries spent, or the Job's deadline past: no attempt can follow), and
 * whether another node held it on chain (the assigned node could not take it: not its failure).
 */
export async function endChainAttempt(
  input: SubJobWorkflowInput,
  task: NodeTask,
  nodeId: string,
  rejected: boolean,
  verifier?: string,
): Promise<{ chainFailed: boolean; heldByAnother: boolean }> {
  if (!isL1(input) || !task.l1) return { chainFailed: false, heldByAnother: false };
  const index = task.l1.index;
  const state = await l2.l1SubJobState({ jobId: input.jobId, index });
  const heldByAnother =
    state.node !== null &&
    state.node !== nodeId.toLowerCase() &&
    (state.status === 'processing' || state.status === 'submitted');
  if (state.status === 'submitted') {
    // A result judged wrong, or one the assigned node never answered the L2 with: refused on chain.
    await actOnChain(
      input.dispatch,
      { jobId: input.jobId, index, action: 'reject', attempt: state.retries },
      rejected ? verifier : undefined,
    );
  } else if (state.status === 'processing') {
    const wait = state.due * 1000 + CHAIN_SLACK_MS - Date.now();
    if (wait > 0) await sleep(wait);
    await actOnChain(input.dispatch, {
      jobId: input.jobId,
      index,
      action: 'timeout',
      attempt: state.retries,
    });
  }
  await l2.recordChainSteps(input.jobId);
  const after = await l2.l1SubJobState({ jobId: input.jobId, index });
  return { chainFailed: after.status === 'failed', heldByAnother };
}

/**
 * The requester's input failed on every executor (the verifier's re-run agreed). L2: nothing (no
 * penalty, the SubJob fails). L1: the node's failure report on chain is `verify`d — fuel 0 paid,
 * the SubJob's fuel refunded, the verifier's fee earned for the re-run — so the honest node is not
 * fined; a node that reported nothing is timed out as any node that holds a SubJob and is silent.
 */
export async function closeInputFault(
  input: SubJobWorkflowInput,
  task: NodeTask,
  nodeId: string,
): Promise<void> {
  if (!isL1(input) || !task.l1) return;
  const report = await l2.l1FailureReport({ task, nodeId });
  if (report.reported) {
    await actOnChain(input.dispatch, {
      jobId: input.jobId,
      index: task.l1.index,
      action: 'verify',
      attempt: 0,
      expect: report.expect,
    });
    await l2.recordChainSteps(input.jobId);
  } else {
    await endChainAttempt(input, task, nodeId, false);
  }
}

export interface L1CleanupInput {
  jobId: string;
  dispatch: SubJobWorkflowInput['dispatch'];
}

/**
 * After an L1 Job settled: what is still open on EmethCore (a SubJob the L2 gave up on, one of a
 * cancelled Job) is timed out by a verifier the moment the chain allows, so its escrow share goes
 * back to the requester and any node holding it pays EmethCore's timeout penalty. The chain
 * refunds the requester directly; the Job's charges do not change.
 */
export async function l1CleanupWorkflow({ jobId, dispatch }: L1CleanupInput): Promise<number> {
  let steps = 0;
  for (;;) {
    const open = await l2.openOnChain(jobId);
    if (open.length === 0) break;
    const next = Math.min(...open.map((o) => o.timeoutAt)) * 1000 + CHAIN_SLACK_MS;
    if (next > Date.now()) await sleep(next - Date.now());
    for (const o of open.filter((x) => x.timeoutAt * 1000 + CHAIN_SLACK_MS <= Date.now())) {
      await actOnChain(dispatch, { jobId, index: o.index, action: 'timeout', attempt: o.state.retries });
      steps++;
    }
    await l2.recordChainSteps(jobId);
  }
  return steps;
}

/** The cleanup's workflow id, beside its Job's. */
export const l1CleanupId = (): string => `${workflowInfo().workflowId}/l1-cleanup`;
