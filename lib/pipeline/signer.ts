import type { Holon } from '../types';

/** The Signer on `emeth-l2`: every interval, pending tickets under one Merkle root and signature. */
export interface SignerActivities {
  /** Batch pending tickets under a Merkle root and sign it (none pending: null). */
  signPendingTickets(): Promise<{ batchId: number; tickets: number; total: Holon } | null>;
}
