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
   * The tickets of one verified SubJob, issued at once (not at the Job's end): its node's (fuel) and
   * its verifier's (fee). The Signer batches them at its next interval and each payee may redeem its
   * own while the Job still runs, independently of the other. Idempotent.
   */
  issueTicket(input: { subJobId: string }): Promise<void>;
  settleJob(
    jobId: string,
    status: JobOutcome['status'],
    reason?: string,
  ): Promise<{ charged: Holon; refunded: Holon }>;
}
