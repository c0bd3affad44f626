import http from 'node:http';
import { JsonRpcProvider } from 'ethers';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { EmethConfig } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { checkHealth } from '../../lib/health';
import { TASK_QUEUES } from '../../lib/task-queues';
import { createGateway } from '../../api/app';
import { createWiringActivities } from '../../activities/wiring';
import { createPrismaClient } from '../../prisma/client';
import { migrateDeploy } from '../../prisma/migrate';
import { startEmbeddedPostgres } from '../../prisma/embedded/server';
import { readDeployment } from '../shared/deployment';

export interface L2Server {
  gatewayUrl: string;
  stop(): Promise<void>;
}

/**
 * The L2 server process: it alone owns the database (the embedded one lives inside it) and runs
 * the `emeth-l2` Temporal worker beside the REST gateway. Other processes reach the database only
 * through it.
 */
export async function startL2Server(config: EmethConfig, logger: Logger): Promise<L2Server> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err) => logger.error({ err }, 'shutdown step failed'));
  };
  try {
    let databaseUrl = config.database.url;
    if (config.database.embedded) {
      const db = await startEmbeddedPostgres({ dataDir: config.database.dataDir, port: config.database.pglitePort });
      stops.push(db.stop);
      databaseUrl = db.url;
      logger.info({ dataDir: config.database.dataDir, port: db.port }, 'embedded PostgreSQL (PGlite) started');
    }
    await migrateDeploy(databaseUrl);
    const prisma = createPrismaClient(databaseUrl);
    stops.push(() => prisma.$disconnect());

    const deployment = readDeployment(config.chain.deploymentFile);
    const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0, staticNetwork: true });
    stops.push(async () => provider.destroy());

    const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
    stops.push(() => nativeConnection.close());
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: config.temporal.namespace,
      taskQueue: TASK_QUEUES.l2,
      workflowsPath: require.resolve('../../workflows'),
      activities: createWiringActivities({ prisma, provider, tokenAddress: deployment.token }),
    });
    const workerRun = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
    });

    const clientConnection = await Connection.connect({ address: config.temporal.address });
    stops.push(() => clientConnection.close());
    const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });

    const app = createGateway({
      logger: logger.child({ component: 'gateway' }),
      health: () =>
        checkHealth({
          gateway: async () => ({ up: true, detail: config.gateway.url }),
          database: async () => {
            await prisma.$queryRaw`SELECT 1`;
            return { up: true, detail: config.database.embedded ? `embedded PGlite in ${config.database.dataDir}` : 'PostgreSQL' };
          },
          temporal: async () => {
            await client.workflowService.getSystemInfo({});
            return { up: true, detail: `${config.temporal.address} namespace ${config.temporal.namespace}` };
          },
          chain: async () => {
            const [block, code] = await Promise.all([provider.getBlockNumber(), provider.getCode(deployment.core)]);
            if (code === '0x') return { up: false, error: `no EmethCore contract at ${deployment.core}` };
            return { up: true, detail: `${config.chain.rpcUrl} block ${block}, EmethCore ${deployment.core}` };
          },
          worker: async () => {
            const state = worker.getState();
            return { up: state === 'RUNNING', detail: `task queue ${TASK_QUEUES.l2}: ${state}` };
          },
        }),
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.gateway.port, config.gateway.host, resolve);
    });
    stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    server.closeIdleConnections?.();
    logger.info({ url: config.gateway.url, taskQueue: TASK_QUEUES.l2 }, 'L2 server ready');
    return { gatewayUrl: config.gateway.url, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
