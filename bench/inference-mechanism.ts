/**
 * Which Temporal mechanism carries a synchronous inference request to a warm node (issue: AI
 * inference as a service): the same one-row request to the same loaded onnxruntime session,
 * measured in the same run against the same Temporal dev server —
 *   (a) bare: session.run in this process (the floor)
 *   (b) update→activity: a long-running replica workflow on the L2's queue; each request a Workflow
 *       Update whose handler runs an activity on the node's own queue (the node keeps the session)
 *   (c) workflow per request: start a workflow that runs that activity, wait for its result
 *   (d) update→local activity: the replica workflow hosted by the node's worker itself (one task
 *       instead of three per request, but the node then writes the history the L2 bills from)
 * Prints p50/p99 per mechanism and its overhead over bare.
 *
 *   npx tsx bench/inference-mechanism.ts [--requests 300] [--rows 1]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { startTemporalDevServer } from '../cli/stack/temporal';
import { buildMlpModel } from '../examples/models';
import { createOnnxSession } from '../activities/programs/onnx-runtime';
import { createTensor } from '../lib/tensors';
import type { InferAnswer, InferRequest } from './workflows/inference';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '300' },
      rows: { type: 'string', default: '1' },
      // The dev server's transfer-queue poll rate (default 20 a second: up to 50 ms per task; see
      // cli/stack/temporal.ts DEV_SERVER_DYNAMIC_CONFIG); --transfer-rps 1000 lifts it.
      'transfer-rps': { type: 'string' },
    },
  });
  const n = Number(values.requests);
  const rowsPerRequest = Number(values.rows);
  const cols = 32;
  const session = await createOnnxSession(buildMlpModel(), { preferCuda: false });
  const inferWarm = async (r: InferRequest): Promise<InferAnswer> => {
    const rows = r.rows.length / r.cols;
    const [out] = await session.run({
      rows: createTensor('rows', 'float32', [rows, r.cols], Float32Array.from(r.rows)),
    });
    return { data: Array.from(out!.data as Float32Array), cols: out!.shape[1] ?? 1 };
  };
  const request = (): InferRequest => ({
    rows: Array.from({ length: rowsPerRequest * cols }, () => Math.random()),
    cols,
  });

  const temporal = await startTemporalDevServer({
    headless: true,
    ...(values['transfer-rps']
      ? { dynamicConfig: { 'history.transferProcessorMaxPollRPS': Number(values['transfer-rps']) } }
      : {}),
  });
  const connection = await Connection.connect({ address: temporal.address });
  const native = await NativeConnection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const l2Queue = `bench-infer-l2-${randomUUID()}`;
  const nodeQueue = `bench-infer-node-${randomUUID()}`;
  const workflowsPath = require.resolve('./workflows/inference');
  const l2 = await Worker.create({
    connection: native,
    taskQueue: l2Queue,
    workflowsPath,
    activities: { inferWarm },
  });
  const node = await Worker.create({
    connection: native,
    taskQueue: nodeQueue,
    workflowsPath,
    activities: { inferWarm },
  });

  const time = async (label: string, call: (r: InferRequest) => Promise<unknown>) => {
    for (let i = 0; i < 20; i++) await call(request()); // warm-up
    const ms: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = request();
      const s = performance.now();
      await call(r);
      ms.push(performance.now() - s);
    }
    return { label, p50: pct(ms, 50), p99: pct(ms, 99), perSecond: (n * 1000) / (performance.now() - t0) };
  };

  try {
    const results = await Promise.all([
      l2.run(),
      node.run(),
      (async () => {
        const out = [];
        out.push(await time('(a) bare session.run', inferWarm));
        const replica = await client.workflow.start('replicaWorkflow', {
          taskQueue: l2Queue,
          workflowId: `bench-replica-${randomUUID()}`,
          args: [{ nodeQueue }],
        });
        out.push(
          await time('(b) Update → activity on the node queue', (r) =>
            replica.executeUpdate('infer', { args: [r] }),
          ),
        );
        await replica.signal('stop');
        // The same, with the activity on the workflow's own queue (the server may hand it out eagerly).
        const sameQueue = await client.workflow.start('replicaWorkflow', {
          taskQueue: l2Queue,
          workflowId: `bench-replica-same-${randomUUID()}`,
          args: [{ nodeQueue: l2Queue }],
        });
        out.push(
          await time('(b′) Update → activity on the same queue', (r) =>
            sameQueue.executeUpdate('infer', { args: [r] }),
          ),
        );
        await sameQueue.signal('stop');
        out.push(
          await time('(c) a workflow per request', (r) =>
            client.workflow.execute('inferOnceWorkflow', {
              taskQueue: l2Queue,
              workflowId: `bench-once-${randomUUID()}`,
              args: [{ nodeQueue, request: r }],
            }),
          ),
        );
        const hosted = await client.workflow.start('nodeHostedReplicaWorkflow', {
          taskQueue: nodeQueue,
          workflowId: `bench-hosted-${randomUUID()}`,
        });
        out.push(
          await time('(d) Update → local activity, node-hosted', (r) =>
            hosted.executeUpdate('infer', { args: [r] }),
          ),
        );
        await hosted.signal('stop');
        l2.shutdown();
        node.shutdown();
        return out;
      })(),
    ]);
    const rows = results[2] as { label: string; p50: number; p99: number; perSecond: number }[];
    const bare = rows[0]!;
    console.log(
      `\n${n} sequential requests of ${rowsPerRequest} row(s) × ${cols} float32, MLP 32→64→10, CPU, one warm session\n`,
    );
    console.log('| mechanism | p50 ms | p99 ms | requests/s | p50 overhead over bare |');
    console.log('|---|---:|---:|---:|---:|');
    for (const r of rows)
      console.log(
        `| ${r.label} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.perSecond.toFixed(0)} | ${(r.p50 - bare.p50).toFixed(2)} ms |`,
      );
    console.log(JSON.stringify({ bench: 'inference-mechanism', requests: n, rowsPerRequest, results: rows }));
  } finally {
    await session.release();
    await connection.close();
    await native.close();
    await temporal.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
