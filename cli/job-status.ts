import { TERMINAL_JOB_STATUSES } from '../lib/types';
import type { GatewayClient } from './gateway-client';
import type { ChainStepView } from '../api/views';

export interface JobView {
  id: string;
  status: string;
  fees: { feeLimit: string; verifierFee: string; reserved: string; charged: string; refunded: string };
  subJobs: { index: number; status: string; nodeId: string | null; attempts: number }[];
  result: string | null;
  temporalUiUrl: string;
  workflowId: string;
  /** 'l1': every step on EmethCore, each in chainSteps with its transaction. */
  layer?: 'l1' | 'l2';
  chainSteps?: ChainStepView[];
}

/** One L1 chain step as a line: the event, its SubJob, whom it names, what it moved, its transaction. */
export function chainStepLine(s: ChainStepView): string {
  const sub = s.subJobIndex === null ? '' : ` SubJob ${s.subJobIndex}`;
  const who = s.actor ? ` ${s.actor.slice(0, 10)}…` : '';
  const amount = s.amount ? ` ${s.amount} holon` : '';
  return `    chain: ${s.event}${sub}${who}${amount}  tx ${s.txHash} (block ${s.blockNumber})`;
}

function bar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? 0 : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

/** Polls a Job and prints a progress line whenever it changes, until the Job ends. */
export async function followJob(
  client: GatewayClient,
  jobId: string,
  out: (line: string) => void,
  pollMs = 500,
): Promise<JobView> {
  let last = '';
  let shownSteps = 0;
  for (;;) {
    const job = await client.request<JobView>('GET', `/v1/jobs/${jobId}`);
    // An L1 Job's chain steps as they land, each with its transaction.
    for (const step of (job.chainSteps ?? []).slice(shownSteps)) out(chainStepLine(step));
    shownSteps = Math.max(shownSteps, job.chainSteps?.length ?? 0);
    const verified = job.subJobs.filter((s) => s.status === 'verified').length;
    const counts = new Map<string, number>();
    for (const s of job.subJobs)
      if (s.status !== 'verified') counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
    const states = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
    const line = `  ${job.status.padEnd(12)} ${bar(verified, job.subJobs.length)} verified${states ? `  (${states})` : ''}`;
    if (line !== last) out(line);
    last = line;
    if ((TERMINAL_JOB_STATUSES as readonly string[]).includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
