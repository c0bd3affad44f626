import {
  CancellationScope,
  ChildWorkflowCancellationType,
  continueAsNew,
  ParentClosePolicy,
  condition,
  defineQuery,
  defineSignal,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  JobOutcome,
  JobWorkflowInput,
  KeyholderActivities,
  L2Activities,
  SubJobOutcome,
  SubJobPlan,
} from '../lib/pipeline';
import { sealTo } from '../lib/pipeline';
import type { JobProgress, JobStatus } from '../lib/types';
import { reasonOf } from './failures';
import {
  EmethJobId,
  EmethLayer,
  EmethProgramId,
  EmethRequester,
  EmethStatus,
} from '../lib/search-attributes';
import { subJobWorkflow } from './subjob';
import { l1CleanupId, l1CleanupWorkflow, openSubJobs } from './layers';

export const cancelSignal = defineSignal('cancel');
export const progressQuery = defineQuery<JobProgress>('progress');

const l2 = proxyActivities<L2Activities>({
  startToCloseTimeout: '5 minutes',
  retry: {
    initialInterval: '500 ms',
    maximumInterval: '10 seconds',
    maximumAttempts: 20,
    nonRetryableErrorTypes: ['EmethRefused'],
  },
});

/**
 * A Job from submission to settlement (DESIGN §3): reserve the requester's deposit, split, run one
 * child workflow per SubJob within a bounded window, aggregate, settle (tickets for verified work,
 * the rest released). A `cancel` signal stops what has not been verified; verified work is paid.
 */
export async function jobWorkflow({ jobId, resume }: JobWorkflowInput): Promise<JobOutcome> {
  let status: JobStatus = resume ? 'running' : 'submitted';
  let cancelRequested = false;
  const children = new CancellationScope();
  const outcomes = new Map<string, SubJobOutcome>();
  const running = new Set<string>();
  let subJobs: SubJobPlan[] = [];
  let fees = { reserved: resume?.reserved ?? '0', charged: '0', refunded: '0' };

  // On L1 a SubJob a node has taken on chain cannot be taken back without fining that node
  // (EmethCore has no cancel after process): a stop lets running SubJobs finish, and offers no more.
  let runningOnChain = false;
  const stopChildren = () => {
    if (!runningOnChain) children.cancel();
  };
  setHandler(cancelSignal, () => {
    if (cancelRequested) return;
    cancelRequested = true;
    stopChildren();
  });
  setHandler(progressQuery, (): JobProgress => {
    const all = [...outcomes.values()];
    return {
      jobId,
      status,
      subJobs: {
        total: subJobs.length,
        verified: all.filter((o) => o.status === 'verified').length,
        failed: all.filter((o) => o.status === 'failed').length,
        running: running.size,
        waiting: subJobs.length - outcomes.size - running.size,
      },
      fees,
    };
  });

  const setStatus = async (next: JobStatus) => {
    status = next;
    upsertSearchAttributes([{ key: EmethStatus, value: next }]);
    await l2.setJobStatus(jobId, next);
  };

  const plan = await l2.planJob(jobId);
  const epoch = resume?.epoch ?? 0;
  let result: string | undefined;
  let failure: string | undefined;
  let nextEpoch = false;
  let l1ProcessingMs: number | undefined;
  const stopped = () => cancelRequested || failure !== undefined;
  // Every path below ends in settlement: a refusal, an activity that gives up, a participant that
  // never comes. Verified work is paid and the rest of the reservation released.
  try {
    if (!resume) {
      fees = { ...fees, reserved: (await l2.reserveJob(jobId)).reserved };
      await setStatus('reserved');
    }
    if (!stopped()) {
      if (epoch === 0) await setStatus('splitting');
      subJobs = await l2.splitJob(jobId, epoch);
      // L1: the SubJobs registered on EmethCore, where nodes take them (L2: nothing).
      const opened = await openSubJobs(jobId);
      if (opened) {
        l1ProcessingMs = opened.processingMs;
        runningOnChain = true;
      }
    }
    if (!stopped()) {
      await setStatus('running');
      await runWithinWindow(subJobs, plan.window, stopped, running, async (sj) => {
        const o = await runSubJob(jobId, plan, sj, children, l1ProcessingMs);
        outcomes.set(sj.subJobId, o);
        if (o.fault === 'input' && failure === undefined) {
          // The requester's input fails on every executor: stop spending its deposit on the rest.
          failure = `SubJob ${o.index} failed: ${o.reason ?? 'no reason given'}`;
          stopChildren();
        }
      });
    }
    if (!stopped() && allVerified(subJobs, outcomes)) {
      await setStatus('aggregating');
      if (plan.keyholderQueue && plan.aggregateAtKeyholder) {
        // Training: the aggregate stays encrypted; only the requester's keyholder can open it.
        result = await finishEpoch(jobId, plan.requester, epoch, plan.keyholderQueue, plan.deadline);
        nextEpoch = epoch + 1 < plan.numEpoch && !cancelRequested;
      } else {
        result = (await l2.aggregateJob(jobId)).result;
      }
    }
  } catch (err) {
    // Cancelled (by the signal or the operator) while a step of its own ran: settle as cancelled.
    if (isCancellation(err)) cancelRequested = true;
    else failure = reasonOf(err);
  }
  if (nextEpoch && failure === undefined) {
    // A fresh history per epoch: long trainings never grow one history without bound.
    await continueAsNew<typeof jobWorkflow>({ jobId, resume: { epoch: epoch + 1, reserved: fees.reserved } });
  }

  const final: JobOutcome['status'] = cancelRequested
    ? 'cancelled'
    : failure === undefined && allVerified(subJobs, outcomes)
      ? 'completed'
      : 'failed';
  const firstFailed = subJobs.map((sj) => outcomes.get(sj.subJobId)).find((o) => o?.status === 'failed');
  const reason =
    final === 'failed'
      ? (failure ??
        (firstFailed
          ? `SubJob ${firstFailed.index} failed: ${firstFailed.reason ?? 'no reason given'}`
          : 'not every SubJob was verified'))
      : undefined;
  const settled = await CancellationScope.nonCancellable(async () => {
    await setStatus('settling');
    const s = await l2.settleJob(jobId, final, reason);
    // L1: what is still open on chain is timed out when the chain allows, refunding the requester there.
    if (plan.layer === 'l1' && (await l2.openOnChain(jobId)).length > 0) {
      await startChild(l1CleanupWorkflow, {
        workflowId: l1CleanupId(),
        args: [{ jobId, dispatch: plan.dispatch }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [{ key: EmethJobId, value: jobId }],
      });
    }
    await setStatus(final);
    return s;
  });
  fees = { reserved: fees.reserved, ...settled };
  return {
    jobId,
    status: final,
    result,
    charged: settled.charged,
    refunded: settled.refunded,
    ...(reason ? { reason } : {}),
    subJobs: subJobs.map(
      (sj) =>
        outcomes.get(sj.subJobId) ?? {
          subJobId: sj.subJobId,
          index: sj.index,
          status: 'cancelled',
          attempts: 0,
        },
    ),
  };
}

const allVerified = (subJobs: SubJobPlan[], outcomes: Map<string, SubJobOutcome>) =>
  subJobs.length > 0 && subJobs.every((sj) => outcomes.get(sj.subJobId)?.status === 'verified');

/**
 * The sliding window (Temporal's batch-sliding-window sample): at most `window` SubJobs run at once;
 * each one that ends makes room for the next. Stops offering new ones once `stopped()`.
 */
async function runWithinWindow(
  subJobs: SubJobPlan[],
  window: number,
  stopped: () => boolean,
  running: Set<string>,
  run: (sj: SubJobPlan) => Promise<void>,
): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const sj of subJobs) {
    await condition(() => running.size < window || stopped());
    if (stopped()) break;
    running.add(sj.subJobId);
    pending.push(run(sj).finally(() => running.delete(sj.subJobId)));
  }
  await Promise.all(pending);
}

/** Sums the epoch's encrypted updates, has the keyholder apply them, records the checkpoint. */
async function finishEpoch(
  jobId: string,
  requester: string,
  epoch: number,
  keyholderQueue: string,
  deadline: number,
): Promise<string> {
  const keyholder = proxyActivities<KeyholderActivities>({
    taskQueue: keyholderQueue,
    startToCloseTimeout: '10 minutes',
    // The requester's keyholder must be online; waiting past the deadline is pointless.
    scheduleToStartTimeout: Math.max(1000, deadline - Date.now()),
    retry: { maximumAttempts: 3 },
  });
  const agg = await l2.aggregateEpoch(jobId, epoch);
  const params = await l2.trainingParams(jobId);
  const ck = await keyholder.finishEpoch(
    sealTo([await l2.keyholderKey(requester)], {
      jobId,
      epoch,
      sum: agg.sum,
      globalModel: agg.globalModel,
      trainGraph: params.trainGraph,
      testSet: params.testSet,
    }),
  );
  await l2.recordCheckpoint({ jobId, epoch, model: ck.checkpoint, accuracy: ck.accuracy, loss: ck.loss });
  return ck.checkpoint;
}

async function runSubJob(
  jobId: string,
  plan: Awaited<ReturnType<L2Activities['planJob']>>,
  sj: SubJobPlan,
  scope: CancellationScope,
  l1ProcessingMs?: number,
): Promise<SubJobOutcome> {
  try {
    return await scope.run(() =>
      executeChild(subJobWorkflow, {
        workflowId: `${workflowInfo().workflowId}/${sj.epoch ? `e${sj.epoch}-` : ''}subjob-${sj.index}`,
        args: [
          {
            jobId,
            dispatch: plan.dispatch,
            keyholderQueue: plan.keyholderQueue,
            requester: plan.requester,
            plan: sj,
            capabilityClass: plan.capabilityClass,
            deadline: plan.deadline,
            maxAttempts: plan.maxAttempts,
            ...(plan.layer === 'l1' ? { layer: plan.layer, l1ProcessingMs } : {}),
            ...(plan.replicas && plan.replicas > 1 ? { replicas: plan.replicas } : {}),
          },
        ],
        // Wait for the child to close its attempt (no penalty on cancel) before settling.
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [
          { key: EmethJobId, value: jobId },
          { key: EmethRequester, value: plan.requester.toLowerCase() },
          { key: EmethProgramId, value: sj.programId },
          { key: EmethStatus, value: 'pending' },
          { key: EmethLayer, value: plan.layer ?? 'l2' },
        ],
      }),
    );
  } catch (err) {
    if (isCancellation(err))
      return { subJobId: sj.subJobId, index: sj.index, status: 'cancelled', attempts: 0 };
    // The SubJob's workflow gave up (a verifier or keyholder that never came): the SubJob failed.
    return { subJobId: sj.subJobId, index: sj.index, status: 'failed', attempts: 0, reason: reasonOf(err) };
  }
}
