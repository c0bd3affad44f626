import { proxyActivities } from '@temporalio/workflow';
import type { ReconcilerActivities } from '../lib/pipeline';

const { reconcileJobs } = proxyActivities<ReconcilerActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3, initialInterval: '5 seconds' },
});

/** One reconciliation interval (a Temporal Schedule): settle Jobs whose workflow closed before their row did. */
export async function reconcilerWorkflow(): ReturnType<ReconcilerActivities['reconcileJobs']> {
  return reconcileJobs();
}
