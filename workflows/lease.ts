import { condition, continueAsNew, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { LeaseActivities, LeaseNodeActivities, LeaseOutcome, LeaseStarted } from '../lib/pipeline/lease';
import { sealTo } from '../lib/pipeline';

export interface LeaseInput {
  leaseId: string;
  /** Carried over continue-as-new: the lease's start and the period the next run begins with. */
  resume?: { started: LeaseStarted; period: number };
}

/** Ends the lease now: the period under way stays paid (it started), the rest is refunded. */
export const endLeaseSignal = defineSignal<[{ reason?: string }]>('end');

const l2 = proxyActivities<LeaseActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10, initialInterval: '500 ms', nonRetryableErrorTypes: ['EmethRefused'] },
});

/** Periods one run holds before it continues as new (its history stays small however long the lease). */
const PERIODS_PER_RUN = 100;

/**
 * One lease (paper 5-2), from its budget's commitment to its settlement: its nodes chosen and held
 * (they serve only its requester meanwhile), and at the start of every period each asked on its own
 * queue whether it is there: a node that answers is paid the period, one that does not has left
 * early and is penalised as for a timeout. Periods are durable timers from the lease's start, so an
 * L2 restart resumes on time; the lease ends after its last period or when its requester ends it.
 */
export async function leaseWorkflow(input: LeaseInput): Promise<LeaseOutcome> {
  const { leaseId } = input;
  let end: { reason?: string } | undefined;
  setHandler(endLeaseSignal, (s) => void (end ??= s));

  const settings = await l2.leaseSettings();
  let started = input.resume?.started;
  if (!started) {
    try {
      await l2.reserveLease({ leaseId });
      started = await l2.startLease({ leaseId });
    } catch (err) {
      return l2.settleLease({ leaseId, status: 'failed', reason: causeOf(err) });
    }
  }
  const onNode = (nodeId: string) =>
    proxyActivities<LeaseNodeActivities>({
      taskQueue: `${settings.nodeQueuePrefix}${nodeId}`,
      // A node that does not answer within the window, queued or taken, has left: no retries.
      scheduleToStartTimeout: settings.confirmTimeoutMs,
      startToCloseTimeout: settings.confirmTimeoutMs,
      retry: { maximumAttempts: 1 },
    });

  let active = started.nodes;
  const first = input.resume?.period ?? 0;
  for (let period = first; period < started.periods && !end; period++) {
    if (period - first >= PERIODS_PER_RUN)
      return continueAsNew<typeof leaseWorkflow>({ leaseId, resume: { started, period } });
    const answers = await Promise.all(
      active.map(async (nodeId) => {
        let why: string;
        try {
          const answer = await onNode(nodeId).confirmLease(
            sealTo([started.nodeKeys[nodeId] ?? ''], { leaseId, period }),
          );
          if (answer.nodeId.toLowerCase() === nodeId) return 'present';
          why = `answered as ${answer.nodeId}`;
        } catch (err) {
          why = causeOf(err);
        }
        return l2.leaseNodeMissed({ leaseId, nodeId, period, reason: why });
      }),
    );
    active = active.filter((_, i) => answers[i] !== 'left');
    await l2.payLeasePeriod({ leaseId, period, nodes: active });
    if (active.length === 0) {
      end = { reason: 'every leased node left early' };
      break;
    }
    const next = started.startsAt + (period + 1) * started.periodSeconds * 1000;
    if (next > Date.now()) await condition(() => end !== undefined, next - Date.now());
  }
  return l2.settleLease({
    leaseId,
    status: 'ended',
    reason: end?.reason ?? 'ended on time',
  });
}

function causeOf(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
