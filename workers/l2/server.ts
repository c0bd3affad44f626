// Over 300 lines because it is the L2 process's wiring in start order, so that the stop order (the reverse) can be read off one file.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { JsonRpcProvider, Wallet } from 'ethers';
import {
  Client,
  Connection,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Duration } from '@temporalio/common';
import { assertL2Keys, type EmethConfig } from '../../lib/config';
import { publicDevKeys } from '../../lib/dev-accounts';
import type { Logger } from '../../lib/logger';
import { checkHealth } from '../../lib/health';
import { taskQueues } from '../../lib/task-queues';
import { createGateway } from '../../api/app';
import { createWiringActivities } from '../../activities/wiring';
import { createL2Activities } from './activities';
import { createL2Metrics } from './metrics';
import { startNodeEdge } from '../edge/server';
import { ParticipantKeys } from './participant-keys';
import { chainRegistry } from '../edge/registry';
import { createChainTx, createL1Activities, createL2Chain } from '../../activities/chain';
import { emethCore } from '../../contracts/typed';
import { createMiningChain, type MiningChain } from '../../activities/mining';
import { SerialSigner } from '../../contracts/serial-signer';
import type { ChainViewWithMining } from '../../api/routes/nodes';
import { createLocalBlobStore } from '../../activities/storage';
import { sealedBlobStore } from '../../activities/storage-sealed';
import { createChainCache } from '../../activities/chain-cache';
import { sealingKeysOf } from '../../lib/envelope';
import { PROGRAM_SPECS, ProgramId, getProgramSpec, type InspectInput } from '../../lib/programs';
import { emethDomain } from '../../lib/tickets';
import { requestScope } from '../../lib/request-auth';
import type { PrismaClient } from '../../prisma/client';
import { programRegistry } from '../shared/programs';
import { createPrismaClient } from '../../prisma/client';
import { migrateDeploy } from '../../prisma/migrate';
import { startEmbeddedPostgres } from '../../prisma/embedded/server';
import { readDeployment } from '../shared/deployment';
import { lastActivityPoll } from '../shared/presence';
import { loadKeyring } from '../shared/codec-keys';
import { l2DataConverter } from '../shared/data-converter';
import { L2PayloadCodec } from '../../lib/sealed-payloads';
import { createServingHub } from '../../activities/inference/hub';
import { createInferenceRouter } from '../../activities/inference/router';
import { createInferenceActivities } from '../../activities/inference';
import { createLeaseActivities } from '../../activities/lease';
import { withOverrides } from '../../lib/verification-policy';

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
  // Before anything starts: no public dev key off the embedded chain, and three distinct keys.
  assertL2Keys(config, publicDevKeys());
  const stops: (() => Promise<void>)[] = [];
  const queues = taskQueues(config.temporal.taskQueuePrefix);
  const stopAll = async () => {
    for (const stop of stops.reverse())
      await stop().catch((err) => logger.error({ err }, 'shutdown step failed'));
  };
  try {
    let databaseUrl = config.database.url;
    if (config.database.embedded) {
      const db = await startEmbeddedPostgres({
        dataDir: config.database.dataDir,
        port: config.database.pglitePort,
      });
      stops.push(db.stop);
      databaseUrl = db.url;
      logger.info(
        { dataDir: config.database.dataDir, port: db.port },
        'embedded PostgreSQL (PGlite) started',
      );
    }
    await migrateDeploy(databaseUrl);
    const prisma = createPrismaClient(databaseUrl);
    stops.push(() => prisma.$disconnect());

    await seedPrograms(prisma);

    const deployment = readDeployment(config.chain.deploymentFile);
    const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, {
      batchStallTime: 0,
      // Money decisions read the chain as it is now: ethers otherwise answers an identical call
      // from a 250 ms cache, and two admissions could both see a deposit before a commitment.
      cacheTimeout: -1,
      staticNetwork: true,
    });
    stops.push(async () => provider.destroy());
    const l2Wallet = new Wallet(config.l2.key, provider);
    // Ticket batches are signed by their own key (SIGNER_ROLE), not the key that sends transactions.
    const ticketSigner = new Wallet(config.l2.signerKey);
    // One sender for every transaction of the L2 key (EmethCore and EmethMining): one nonce count.
    const l2Sender = new SerialSigner(l2Wallet);
    const chain = createL2Chain(deployment.core, l2Sender);
    const mining = await miningOf(deployment, l2Sender, l2Wallet.address, logger);
    // Blobs rest as ciphertext: sealed to the storage key, a key of its own (EMETH_STORAGE_KEY).
    // The storage key also opens what participants send through Temporal (lib/sealed-payloads).
    const storageKeys = sealingKeysOf(config.l2.storageKey);
    const store = sealedBlobStore(createLocalBlobStore(config.l2.storageDir), storageKeys);
    const programs = programRegistry(store, logger);
    stops.push(() => programs.close());

    const metrics = createL2Metrics(prisma);
    const participantKeys = new ParticipantKeys();
    const keyring = loadKeyring(config);
    const converter = l2DataConverter(keyring, storageKeys.x25519);
    const clientConnection = await Connection.connect({ address: config.temporal.address });
    stops.push(() => clientConnection.close());
    const client = new Client({
      connection: clientConnection,
      namespace: config.temporal.namespace,
      dataConverter: converter,
    });

    // The inference service's request path (paper 5-1): nodes' serving streams and the router over them.
    const inferencePolicy = withOverrides(
      getProgramSpec(ProgramId.ONNX_INFERENCE).verification,
      config.l2.verification,
    );
    const hub = createServingHub({
      scope: requestScope(config.gateway.url, deployment.chainId),
      isNode: async (address) => (await prisma.node.findUnique({ where: { id: address } })) !== null,
      logger,
    });
    stops.push(() => hub.close());
    const router = createInferenceRouter({
      prisma,
      store,
      hub,
      logger,
      sampleRate: inferencePolicy.auditRate,
    });
    stops.push(() => router.close());
    const nodesOnline = (ids: string[]) =>
      nodesPolling(
        client,
        config.temporal.namespace,
        ids.map((id) => queues.node(id)),
      );

    const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
    stops.push(() => nativeConnection.close());
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: config.temporal.namespace,
      taskQueue: queues.l2,
      dataConverter: converter,
      workflowsPath: require.resolve('../../workflows'),
      activities: {
        ...createWiringActivities({ prisma, provider, tokenAddress: deployment.token }),
        ...createInferenceActivities({
          prisma,
          chain,
          store,
          router,
          hub,
          nodesOnline,
          verification: config.l2.verification,
          settings: {
            nodeQueuePrefix: queues.node(''),
            verifierQueue: queues.verifier,
            windowMs: config.l2.inferenceWindowMs,
            scaleUpRps: 50,
            idleWindowsToScaleDown: 10,
          },
          logger: logger.child({ component: 'inference' }),
        }),
        ...createLeaseActivities({
          prisma,
          chain,
          nodesOnline,
          settings: { nodeQueuePrefix: queues.node(''), confirmTimeoutMs: config.l2.leaseConfirmTimeoutMs },
          logger: logger.child({ component: 'lease' }),
        }),
        ...createL2Activities({
          prisma,
          store,
          programFor: programs.program,
          chain,
          signer: ticketSigner,
          domain: emethDomain(deployment.chainId, deployment.core),
          verifiers: config.l2.verifiers,
          nodesOnline,
          verifiersOnline: (addresses) =>
            nodesPolling(
              client,
              config.temporal.namespace,
              addresses.map((a) => queues.verifierOf(a)),
            ),
          dispatch: {
            verifierQueue: queues.verifier,
            verifierQueuePrefix: queues.verifierOf(''),
            nodeQueuePrefix: queues.node(''),
            nodePickupTimeoutMs: config.l2.nodePickupTimeoutMs,
            nodeHeartbeatTimeoutMs: config.l2.nodeHeartbeatTimeoutMs,
            keyholderQueuePrefix: queues.keyholder(''),
          },
          logger: logger.child({ component: 'l2-activities' }),
          workflowState: (workflowId) => workflowState(client, workflowId),
          reconcileGraceMs: config.l2.reconcileGraceMs,
          verification: config.l2.verification,
          participantKey: (role, address) => participantKeys.of(role, address),
          mining: mining?.poster ? mining.chain : undefined,
          // L1 Jobs (paper 7-2): the L2 key registers their SubJobs and relays their Requests.
          l1: {
            tx: createL1Activities(createChainTx({ provider, signer: l2Sender, deployment, logger })),
            core: emethCore(deployment.core, provider),
            fromBlock: deployment.blockNumber,
          },
          metrics,
          chainCache: createChainCache({
            prisma,
            provider,
            deployment,
            logger: logger.child({ component: 'chain-cache' }),
            // A development chain (anvil, chain id 31337) mines only on demand and never reorganises.
            confirmations: deployment.chainId === 31337 ? 0 : 2,
          }),
        }),
      },
    });
    // The node edge: the participants' only door to Temporal, authenticated by their wallets.
    const edge = await startNodeEdge({
      listen: `${config.edge.host}:${config.edge.port}`,
      endpoint: config.edge.endpoint,
      upstream: config.temporal.address,
      namespace: config.temporal.namespace,
      chainId: deployment.chainId,
      taskQueuePrefix: config.temporal.taskQueuePrefix,
      isRegistered: chainRegistry({
        core: deployment.core,
        runner: provider,
        verifiers: config.l2.verifiers,
      }),
      taskJournal: path.join(config.home, 'edge-task-tokens.jsonl'),
      // Participants vouch for their X25519 keys in their tokens: what the L2 seals their payloads to.
      onParticipant: (claims) => participantKeys.learn(claims),
      ...(config.edge.tlsCert && config.edge.tlsKey
        ? { tls: { cert: fs.readFileSync(config.edge.tlsCert), key: fs.readFileSync(config.edge.tlsKey) } }
        : {}),
      logger: logger.child({ component: 'node-edge' }),
    });
    stops.push(() => edge.close());
    logger.info(
      { endpoint: edge.endpoint, address: edge.address, tls: Boolean(config.edge.tlsCert) },
      'node edge ready',
    );

    const workerRun = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
    });

    await ensureSchedule(client, 'signer', 'signerWorkflow', config.l2.signerInterval, queues.l2, logger);
    await ensureSchedule(
      client,
      'reconciler',
      'reconcilerWorkflow',
      config.l2.reconcileInterval,
      queues.l2,
      logger,
    );
    // The GPU Mining Program: one run per epoch, a tenth of an epoch (at most a minute) after its end.
    if (mining?.poster)
      await ensureSchedule(
        client,
        'mining',
        'miningEpochWorkflow',
        `${mining.epochLength}s`,
        queues.l2,
        logger,
        {
          offset: `${Math.min(60, Math.ceil(mining.epochLength / 10))}s`,
        },
      );

    // The gateway reads the claim bits of GET /v1/nodes/:address/rewards through the chain view.
    const gatewayChain: ChainViewWithMining = {
      freeDeposit: chain.freeDeposit,
      stakeOf: chain.stakeOf,
      ...(mining ? { mining: { address: mining.chain.address, hasClaimed: mining.chain.hasClaimed } } : {}),
    };
    const gatewayDeps = {
      prisma,
      requestScope: requestScope(config.gateway.url, deployment.chainId),
      store,
      temporal: client,
      chain: gatewayChain,
      temporalUiUrl: config.temporalUiUrl,
      namespace: config.temporal.namespace,
      verifiers: config.l2.verifiers,
      l2Address: l2Wallet.address.toLowerCase(),
      l2TaskQueue: queues.l2,
      codec: new L2PayloadCodec(keyring, storageKeys.x25519),
      codecToken: config.codec.token,
      inspectJob: (programId: number, input: InspectInput) => programs.program(programId).inspect(input),
      commitDomain: emethDomain(deployment.chainId, deployment.core),
      inference: router,
      leasePeriodSeconds: config.l2.leasePeriodSeconds,
      // The embedded UI cannot send a token; a gateway on loopback lets local callers decode.
      codecAllowLoopback:
        config.temporal.embedded && ['127.0.0.1', 'localhost', '::1'].includes(config.gateway.host),
      logger: logger.child({ component: 'gateway' }),
      health: () =>
        checkHealth({
          gateway: async () => ({ up: true, detail: config.gateway.url }),
          database: async () => {
            await prisma.$queryRaw`SELECT 1`;
            return {
              up: true,
              detail: config.database.embedded
                ? `embedded PGlite in ${config.database.dataDir}`
                : 'PostgreSQL',
            };
          },
          temporal: async () => {
            await client.workflowService.getSystemInfo({});
            return { up: true, detail: `${config.temporal.address} namespace ${config.temporal.namespace}` };
          },
          chain: async () => {
            const [block, code] = await Promise.all([
              provider.getBlockNumber(),
              provider.getCode(deployment.core),
            ]);
            if (code === '0x') return { up: false, error: `no EmethCore contract at ${deployment.core}` };
            return {
              up: true,
              detail: `${config.chain.rpcUrl} block ${block}, EmethCore ${deployment.core}`,
            };
          },
          worker: async () => {
            const state = worker.getState();
            return { up: state === 'RUNNING', detail: `task queue ${queues.l2}: ${state}` };
          },
        }),
    };
    const app = createGateway(gatewayDeps);
    // GET /metrics for the operator's Prometheus, beside the gateway on the same port.
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') {
        metrics.registry
          .metrics()
          .then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body))
          .catch((err: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(err.message));
        return;
      }
      app(req, res);
    });
    server.on('upgrade', hub.handleUpgrade);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.gateway.port, config.gateway.host, resolve);
    });
    stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    server.closeIdleConnections?.();
    logger.info(
      { url: config.gateway.url, taskQueue: queues.l2, codecKeyId: keyring.current },
      'L2 server ready',
    );
    return { gatewayUrl: config.gateway.url, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The deployment's EmethMining, if it has one, and whether the L2 key may post its epochs. Without
 * the role (an L2 key the deployment did not name) the L2 serves rewards but posts nothing.
 */
async function miningOf(
  deployment: { mining?: string; blockNumber: number },
  sender: SerialSigner,
  l2Address: string,
  logger: Logger,
): Promise<{ chain: MiningChain; poster: boolean; epochLength: number } | undefined> {
  if (!deployment.mining) {
    logger.warn(
      'the deployment has no EmethMining (written before the GPU Mining Program): no epochs are posted',
    );
    return undefined;
  }
  const chain = createMiningChain(deployment.mining, sender, { fromBlock: deployment.blockNumber });
  let poster: boolean, epochLength: number;
  try {
    [poster, { epochLength }] = await Promise.all([chain.isPoster(l2Address), chain.schedule()]);
  } catch (err) {
    logger.error(
      { err, mining: deployment.mining },
      'could not read EmethMining: mining epochs are not posted until the L2 server restarts',
    );
    return { chain, poster: false, epochLength: 0 };
  }
  if (!poster)
    logger.warn(
      { mining: deployment.mining, l2: l2Address },
      'the L2 key lacks EPOCH_POSTER_ROLE on EmethMining: mining epochs are not posted',
    );
  else
    logger.info({ mining: deployment.mining, epochLength }, 'GPU Mining Program: epochs posted every epoch');
  return { chain, poster, epochLength };
}

/** The programs of lib/programs, mirrored into the database the gateway validates Jobs against. */
async function seedPrograms(prisma: PrismaClient): Promise<void> {
  for (const spec of PROGRAM_SPECS) {
    const data = {
      name: spec.name,
      subProgramId: spec.subProgramId,
      minFuelPrice: spec.minFuelPrice,
      defaultFuelLimit: spec.defaultFuelLimit,
      active: spec.implemented,
    };
    await prisma.program.upsert({
      where: { id: spec.programId },
      create: { id: spec.programId, ...data },
      update: data,
    });
  }
}

/** A node is online when a worker polled its queue recently (Temporal itself is the presence service). */
const POLLER_FRESH_MS = 90_000;

/** Which of these node (or verifier) queues a worker polled recently; returns the ids (the queue suffixes). */
async function nodesPolling(client: Client, namespace: string, nodeQueues: string[]): Promise<Set<string>> {
  const online = new Set<string>();
  await Promise.all(
    nodeQueues.map(async (queue) => {
      if (Date.now() - (await lastActivityPoll(client, namespace, queue)) < POLLER_FRESH_MS)
        online.add(queue.slice(queue.lastIndexOf('-') + 1));
    }),
  );
  return online;
}

/** How a workflow stands: 'running', its close status in lower case, or 'missing'. */
async function workflowState(client: Client, workflowId: string): Promise<string> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return d.status.name.toLowerCase();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'missing';
    throw err;
  }
}

/**
 * The Signer and the reconciler run every interval as Temporal Schedules, visible and pausable in
 * the UI; a restart with another interval updates the schedule.
 */
async function ensureSchedule(
  client: Client,
  name: string,
  workflowType: string,
  every: string,
  taskQueue: string,
  logger: Logger,
  opts: { offset?: string } = {},
): Promise<void> {
  // lib/config checked the format (10s, 500ms, ...).
  const interval = every as Duration;
  const scheduleId = `${taskQueue}-${name}`;
  const options = {
    scheduleId,
    spec: { intervals: [{ every: interval, ...(opts.offset ? { offset: opts.offset as Duration } : {}) }] },
    action: { type: 'startWorkflow' as const, workflowType, taskQueue, args: [] },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
  };
  try {
    await client.schedule.create(options);
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    // It exists and keeps running: updating its interval is worth a few tries, not the L2's start.
    // Right after a Temporal restart on kept state, describing a schedule can time out while the
    // server's own scheduler worker comes back.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, spec: options.spec }));
        return;
      } catch (updateErr) {
        if (attempt >= 3) {
          logger.warn(
            { scheduleId, err: (updateErr as Error).message },
            'the schedule exists but its interval could not be updated; it keeps its old one until the next start',
          );
          return;
        }
        await new Promise((r) => setTimeout(r, 2000 * attempt));
      }
    }
  }
}
