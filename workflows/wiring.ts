import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { WiringActivities, WiringResult } from '../lib/wiring';
import { EmethStatus } from '../lib/search-attributes';

const { readChain, recordWiringCheck } = proxyActivities<WiringActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '500 ms' },
});

/** Reads the chain, records what it saw in the database, and marks itself done in the UI. */
export async function wiringWorkflow(): Promise<WiringResult> {
  const snapshot = await readChain();
  const result = await recordWiringCheck(workflowInfo().workflowId, snapshot);
  upsertSearchAttributes([{ key: EmethStatus, value: 'done' }]);
  return result;
}
