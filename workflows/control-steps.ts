import { proxyLocalActivities } from '@temporalio/workflow';
import type { L2Activities } from '../lib/pipeline';

/**
 * A SubJob's control steps, and an L1 Job's chain steps, are short database and chain calls on the
 * L2 worker that runs the workflow: local activities skip a server round trip each.
 */
export const l2Control = proxyLocalActivities<L2Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500 ms', maximumInterval: '10 seconds', maximumAttempts: 20 },
});
