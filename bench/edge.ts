/**
 * The node edge's own cost: `count` trivial activities, one after the other, served by a node
 * worker connected straight to the frontend and by the same worker connected through the edge,
 * alternating in the same run against the same Temporal dev server. Each activity crosses the
 * edge twice (the poll that hands it out, the completion), so the difference per activity is
 * the edge's cost per SubJob (heartbeats aside).
 *
 *   npx tsx bench/edge.ts [--count 200] [--rounds 3]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Wallet } from 'ethers';
import { startTemporalDevServer } from '../cli/stack/temporal';
import { edgeClaims, makeEdgeToken } from '../lib/edge-token';
import { createLogger } from '../lib/logger';
import { taskQueues } from '../lib/task-queues';
import { startNodeEdge } from '../workers/edge/server';
import { connectThroughEdge } from '../workers/shared/connect';
import { median } from './support';

const CHAIN_ID = 31337;
const UNARY_CALLS = 500;

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const { values } = parseArgs({
    options: { count: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' } },
  });
  const count = Number(values.count);
  const rounds = Number(values.rounds);
  const temporal = await startTemporalDevServer({ headless: true });
  const node = Wallet.createRandom();
  const queues = taskQueues(`bench${randomUUID().slice(0, 8)}`);
  const edge = await startNodeEdge({
    listen: '127.0.0.1:0',
    upstream: temporal.address,
    namespace: 'default',
    chainId: CHAIN_ID,
    taskQueuePrefix: queues.l2.replace(/-l2$/, ''),
    isRegistered: async (role, address) => role === 'node' && address === node.address.toLowerCase(),
    logger: createLogger('warn'),
  });
  const connection = await Connection.connect({ address: temporal.address });
  const operator = await NativeConnection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const workflowQueue = `bench-edge-l2-${randomUUID()}`;
  const workflows = await Worker.create({
    connection: operator,
    taskQueue: workflowQueue,
    workflowsPath: require.resolve('./workflows/edge'),
  });
  const running = workflows.run();
  const connectThroughEdgeMetadata = async () => ({
    authorization: `Bearer ${await makeEdgeToken(node, edgeClaims('node', node.address, CHAIN_ID, edge.endpoint, Math.floor(Date.now() / 1000)))}`,
  });

  /** ms for `n` activities on the node's queue, served over `nodeConnection`. */
  async function loop(nodeConnection: NativeConnection, n: number, parallel = false): Promise<number> {
    const worker = await Worker.create({
      connection: nodeConnection,
      taskQueue: queues.node(node.address),
      activities: { echo: async (i: number) => i },
    });
    return worker.runUntil(async () => {
      const t0 = performance.now();
      await client.workflow.execute('edgeLoopWorkflow', {
        taskQueue: workflowQueue,
        workflowId: `bench-edge-${randomUUID()}`,
        args: [{ queue: queues.node(node.address), count: n, parallel }],
      });
      return performance.now() - t0;
    });
  }

  try {
    const direct = await NativeConnection.connect({ address: temporal.address });
    const viaEdge = await connectThroughEdge({
      endpoint: edge.endpoint,
      signer: node,
      role: 'node',
      chainId: CHAIN_ID,
    });
    // Warm-up: workflow bundle, sticky caches, connections.
    await loop(direct, 10);
    await loop(viaEdge.connection, 10);
    const runs = {
      serial: { direct: [] as number[], edge: [] as number[] },
      parallel: { direct: [] as number[], edge: [] as number[] },
    };
    for (let r = 0; r < rounds; r++) {
      for (const mode of ['serial', 'parallel'] as const) {
        runs[mode].direct.push(await loop(direct, count, mode === 'parallel'));
        runs[mode].edge.push(await loop(viaEdge.connection, count, mode === 'parallel'));
      }
    }
    // One hop on its own: a small unary call (DescribeNamespace) straight and through the edge.
    const token = await connectThroughEdgeMetadata();
    const rawDirect = await Connection.connect({ address: temporal.address });
    const rawEdge = await Connection.connect({ address: edge.address, metadata: token });
    const hop = async (c: Connection) => {
      const t0 = performance.now();
      for (let i = 0; i < UNARY_CALLS; i++)
        await c.workflowService.describeNamespace({ namespace: 'default' });
      return (performance.now() - t0) / UNARY_CALLS;
    };
    await hop(rawDirect);
    await hop(rawEdge);
    const hopDirect = await hop(rawDirect);
    const hopEdge = await hop(rawEdge);
    await rawDirect.close();
    await rawEdge.close();

    const fmt = (ms: number) => ms.toFixed(2);
    const rows = (['serial', 'parallel'] as const).map((mode) => {
      const d = median(runs[mode].direct) / count;
      const e = median(runs[mode].edge) / count;
      const label =
        mode === 'serial' ? `${count} activities one after the other` : `${count} activities at once`;
      return `| ${label} | ${fmt(d)} | ${fmt(e)} | ${fmt(e - d)} |`;
    });
    process.stdout.write(
      [
        `| median of ${rounds} rounds, ms per activity | straight to the frontend | through the edge | edge cost |`,
        '|---|---|---|---|',
        ...rows,
        `| one DescribeNamespace call (ms per call, ${UNARY_CALLS} calls) | ${fmt(hopDirect)} | ${fmt(hopEdge)} | ${fmt(hopEdge - hopDirect)} |`,
        '',
        ...(['serial', 'parallel'] as const).flatMap((mode) => [
          `rounds ${mode} (ms): direct ${runs[mode].direct.map((x) => x.toFixed(0)).join(', ')}; edge ${runs[mode].edge.map((x) => x.toFixed(0)).join(', ')}`,
        ]),
        '',
      ].join('\n'),
    );
    await direct.close();
    await viaEdge.close();
  } finally {
    workflows.shutdown();
    await running;
    await operator.close();
    await connection.close();
    await edge.close();
    await temporal.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bench/edge: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
