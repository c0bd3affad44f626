import type { Holon } from '../types';
import type { JobOutcome } from './workflow';

/** The Ledger on `emeth-l2`: a Job's reservation of the requester's deposit, and its settlement. */
export interface LedgerActivities {
  reserveJob(jobId: string): Promise<{ reserved: Holon }>;
  /** Tickets for verified SubJobs, charge them, release the rest of the reservation. */
  settleJob(jobId: string, status: JobOutcome['status']): Promise<{ charged: Holon; refunded: Holon }>;
}
