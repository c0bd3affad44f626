import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `n` bare children (one empty activity each) under one parent with the given window; returns ms. */
export async function bareFanOut(
  address: string,
  n: number,
  window: number,
  activityMs = 0,
): Promise<number> {
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address });
  const taskQueue = `bench-bare-${randomUUID()}`;
  const worker = await Worker.create({
    connection: native,
    taskQueue,
    workflowsPath: require.resolve('./workflows/bare'),
    activities: {
      work: async (i: number) =>
        activityMs ? new Promise<number>((r) => setTimeout(() => r(i), activityMs)) : i,
    },
  });
  try {
    return await worker.runUntil(async () => {
      const client = new Client({ connection });
      const t0 = performance.now();
      await client.workflow.execute('bareParent', {
        taskQueue,
        workflowId: `bare-${randomUUID()}`,
        args: [n, window],
      });
      return performance.now() - t0;
    });
  } finally {
    await connection.close();
    await native.close();
  }
}
