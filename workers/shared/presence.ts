/**
 * Temporal as the presence service: a participant is there when its worker polls its own queue.
 * The L2 asks this before it offers work (nodesPolling in workers/l2/server.ts); tests ask it to
 * know a restarted participant is back.
 */
import type { Client } from '@temporalio/client';

const TASK_QUEUE_TYPE_ACTIVITY = 2;

/** When a worker last polled `queue` for activities (ms since the epoch; 0 when none is listed). */
export async function lastActivityPoll(client: Client, namespace: string, queue: string): Promise<number> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: queue },
    taskQueueType: TASK_QUEUE_TYPE_ACTIVITY,
  });
  let last = 0;
  for (const p of res.pollers ?? []) {
    const at = Number(p.lastAccessTime?.seconds ?? 0) * 1000 + Number(p.lastAccessTime?.nanos ?? 0) / 1e6;
    if (at > last) last = at;
  }
  return last;
}
