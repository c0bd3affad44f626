// Workflow of bench/edge.ts: `count` trivial activities on a participant's queue, one after the
// other (latency) or all at once (throughput).
import { proxyActivities } from '@temporalio/workflow';

export async function edgeLoopWorkflow(input: {
  queue: string;
  count: number;
  parallel: boolean;
}): Promise<number> {
  const { echo } = proxyActivities<{ echo(i: number): Promise<number> }>({
    taskQueue: input.queue,
    startToCloseTimeout: '60 seconds',
    retry: { maximumAttempts: 1 },
  });
  if (input.parallel) {
    await Promise.all(Array.from({ length: input.count }, (_, i) => echo(i)));
  } else {
    for (let i = 0; i < input.count; i++) await echo(i);
  }
  return input.count;
}
