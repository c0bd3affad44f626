// The baseline of P1/P5: the same fan-out shape as a Job (parent → children → one activity each)
// with nothing inside, so the figure is Temporal's own cost on this machine.
import { condition, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';

const { work } = proxyActivities<{ work(i: number): Promise<number> }>({ startToCloseTimeout: '1 minute' });

export async function bareChild(i: number): Promise<number> {
  return work(i);
}

export async function bareParent(n: number, window: number): Promise<number> {
  let running = 0;
  const pending: Promise<number>[] = [];
  for (let i = 0; i < n; i++) {
    await condition(() => running < window);
    running += 1;
    pending.push(
      executeChild(bareChild, { args: [i], workflowId: `${workflowInfo().workflowId}-c${i}` }).finally(
        () => (running -= 1),
      ),
    );
  }
  return (await Promise.all(pending)).length;
}
