// Workflow of test/integration/node-edge.test.ts: the operator side schedules
// one activity on a participant's queue and returns what the participant answered.
import { proxyActivities } from '@temporalio/workflow';

export interface EdgeEchoActivities {
  echo(text: string): Promise<string>;
}

export async function edgeEchoWorkflow(input: { queue: string; text: string }): Promise<string> {
  const { echo } = proxyActivities<EdgeEchoActivities>({
    taskQueue: input.queue,
    startToCloseTimeout: '60 seconds',
    heartbeatTimeout: '30 seconds',
    retry: { maximumAttempts: 1 },
  });
  return echo(input.text);
}
