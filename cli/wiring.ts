import { Client, Connection } from '@temporalio/client';
import type { EmethConfig } from '../lib/config';
import type { WiringResult } from '../lib/wiring';
import { WIRING_WORKFLOW } from '../lib/wiring';
import { taskQueues } from '../lib/task-queues';
import { loadKeyring } from '../workers/shared/codec-keys';
import { dataConverter } from '../workers/shared/data-converter';
import { EmethJobId, EmethNode, EmethProgramId, EmethRequester, EmethStatus } from '../lib/search-attributes';

export interface WiringRun {
  workflowId: string;
  result: WiringResult;
  /** Link to the workflow in the Temporal UI. */
  uiLink: string;
}

/** Runs the wiring workflow on the L2 worker and waits for its result. */
export async function runWiringCheck(config: EmethConfig, requester: string): Promise<WiringRun> {
  const converter = dataConverter(loadKeyring(config));
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: converter });
    const workflowId = `wiring-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const result = await client.workflow.execute<() => Promise<WiringResult>>(WIRING_WORKFLOW, {
      taskQueue: taskQueues(config.temporal.taskQueuePrefix).l2,
      workflowId,
      workflowExecutionTimeout: '2 minutes',
      typedSearchAttributes: [
        { key: EmethJobId, value: workflowId },
        { key: EmethRequester, value: requester.toLowerCase() },
        { key: EmethNode, value: 'l2' },
        { key: EmethProgramId, value: 0 },
        { key: EmethStatus, value: 'running' },
      ],
    });
    const uiLink = `${config.temporalUiUrl}/namespaces/${config.temporal.namespace}/workflows/${workflowId}`;
    return { workflowId, result, uiLink };
  } finally {
    await connection.close();
  }
}
