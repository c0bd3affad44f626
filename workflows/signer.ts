import { proxyActivities } from '@temporalio/workflow';
import type { L2Activities } from '../lib/pipeline';

const { signPendingTickets } = proxyActivities<L2Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

/** One Signer interval (run by a Temporal Schedule): batch and sign whatever tickets are pending. */
export async function signerWorkflow(): Promise<{ batchId: number; tickets: number; total: string } | null> {
  return signPendingTickets();
}
