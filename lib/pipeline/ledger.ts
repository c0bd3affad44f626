import type { Holon } from '../types';
import type { JobOutcome } from './workflow';

/** The Ledger on `emeth-l2`: a Job's reservation of the requester's deposit, and its settlement. */
export interface LedgerActivities {
  reserveJob(jobId: string): Promise<{ reserved: Holon }>;
  /**
   * Tickets for verified SubJobs, charge them, release the rest of the reservation, and mark the
   * Job terminal with `status` (and `reason` when it failed). Idempotent: a second call changes nothing.
   */
  /**
   * The ticket of one verified SubJob, issued at once (not at the Job's end): the Signer batches it
   * at its next interval and the node may redeem it while the Job still runs. Idempotent.
   */
  issueTicket(input: { subJobId: string }): Promise<void>;
  settleJob(
    jobId: string,
    status: JobOutcome['status'],
    reason?: string,
  ): Promise<{ charged: Holon; refunded: Holon }>;
}
