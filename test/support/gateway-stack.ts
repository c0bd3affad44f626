/**
 * The real REST gateway for a suite: a fresh database with the programs the L2 server seeds, the
 * run's Temporal dev server (a suite-own task queue, so no L2 worker picks its Jobs up), a sealed
 * local blob store, a fresh anvil with EmethCore, and the app listening on a loopback port.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import pino from 'pino';
import type { PayloadCodec } from '@temporalio/common';
import { createL2Chain } from '../../activities/chain';
import { createLocalBlobStore } from '../../activities/storage';
import { sealedBlobStore, type SealedBlobStore } from '../../activities/storage-sealed';
import { createGateway } from '../../api/app';
import { emethDomain } from '../../lib/tickets';
import type { ChainView } from '../../api/deps';
import type { ChainViewWithMining } from '../../api/routes/nodes';
import { emethMining } from '../../contracts/typed';
import { sealingKeysOf } from '../../lib/envelope';
import { PROGRAM_SPECS } from '../../lib/programs';
import { requestScope, type RequestScope } from '../../lib/request-auth';
import { openLogFile } from '../../lib/logger';
import { startTestChain, type TestChain } from './chain';
import { createTestDatabase, type TestDatabase } from './db';
import { createServingHub } from '../../activities/inference/hub';
import { createInferenceRouter } from '../../activities/inference/router';
import { connectTestTemporal, type TestTemporal } from './temporal';

export interface GatewayStack {
  db: TestDatabase;
  temporal: TestTemporal;
  store: SealedBlobStore;
  testChain: TestChain;
  chain: ChainView;
  /** http://127.0.0.1:<port> */
  base: string;
  /** The chain id and origin signed requests to this gateway must name. */
  scope: RequestScope;
  stop(): Promise<void>;
}

export interface GatewayStackOptions {
  /** Prefix of the suite's task queue. */
  name: string;
  /** The gateway's clock (ms); suites move it to expire or separate signed requests. */
  now: () => number;
  verifiers: string[];
  l2Address: string;
  /** Write the gateway's request log here (created 0600, as every EMETH log); silent without it. */
  logFile?: string;
  /** The operator's /codec token (EMETH_CODEC_TOKEN); /codec is served only when it is given. */
  codecToken?: string;
  codec?: PayloadCodec;
}

/** What the L2 server seeds at start: parent programs (active when implemented) and their SubJob programs. */
async function seedPrograms(db: TestDatabase): Promise<void> {
  for (const s of PROGRAM_SPECS) {
    await db.prisma.program.create({
      data: {
        id: s.programId,
        name: s.name,
        subProgramId: s.subProgramId,
        minFuelPrice: s.minFuelPrice,
        defaultFuelLimit: s.defaultFuelLimit,
        active: s.implemented,
      },
    });
    await db.prisma.program.create({
      data: {
        id: s.subProgramId,
        name: `${s.name}-subjob`,
        subProgramId: null,
        minFuelPrice: s.minFuelPrice,
        defaultFuelLimit: s.defaultFuelLimit,
        active: s.implemented,
      },
    });
  }
}

export async function startGatewayStack(opts: GatewayStackOptions): Promise<GatewayStack> {
  const [db, temporal, storeDir] = await Promise.all([
    createTestDatabase(),
    connectTestTemporal(opts.name),
    mkdtemp(path.join(os.tmpdir(), `emeth-${opts.name}-`)),
  ]);
  const store = sealedBlobStore(
    createLocalBlobStore(storeDir),
    sealingKeysOf('0x' + randomBytes(32).toString('hex')),
  );
  let testChain: TestChain;
  try {
    await seedPrograms(db);
    testChain = await startTestChain();
  } catch (err) {
    await Promise.allSettled([temporal.close(), db.drop(), rm(storeDir, { recursive: true, force: true })]);
    throw err;
  }
  const mining = testChain.deployment.mining
    ? emethMining(testChain.deployment.mining, testChain.provider)
    : undefined;
  // As the L2 server hands it: EmethCore's reads, and EmethMining's claim bits for the rewards route.
  const chain: ChainViewWithMining = {
    ...createL2Chain(testChain.deployment.core, testChain.provider),
    ...(mining
      ? {
          mining: {
            address: testChain.deployment.mining!,
            hasClaimed: (epoch: number, node: string) => mining.hasClaimed(epoch, node),
          },
        }
      : {}),
  };

  // Listening first: the origin signed requests name is the gateway's own (config gateway.url).
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const scope = requestScope(base, testChain.deployment.chainId);
  const logFd = opts.logFile ? openLogFile(opts.logFile) : undefined;

  // The inference request path with no node connected: the deployment routes answer as they would.
  const hub = createServingHub({ scope, isNode: async () => false, logger: pino({ level: 'silent' }) });
  const inference = createInferenceRouter({
    prisma: db.prisma,
    store,
    hub,
    logger: pino({ level: 'silent' }),
    sampleRate: 0.1,
  });
  server.on('upgrade', hub.handleUpgrade);

  const app = createGateway({
    inference,
    logger:
      logFd === undefined
        ? pino({ level: 'silent' })
        : pino({ level: 'info' }, pino.destination({ fd: logFd, sync: true })),
    requestScope: scope,
    commitDomain: emethDomain(testChain.deployment.chainId, testChain.deployment.core),
    ...(opts.codec ? { codec: opts.codec, codecToken: opts.codecToken } : {}),
    health: async () => ({
      status: 'up',
      parts: {
        gateway: { up: true },
        database: { up: true },
        temporal: { up: true },
        chain: { up: true },
        worker: { up: true },
      },
      checkedAt: new Date().toISOString(),
    }),
    prisma: db.prisma,
    store,
    temporal: temporal.client,
    chain,
    temporalUiUrl: 'http://127.0.0.1:8233/',
    namespace: 'default',
    verifiers: opts.verifiers,
    l2Address: opts.l2Address,
    now: opts.now,
    progressQueryTimeoutMs: 300,
    // The suite's own queue: no other suite's L2 worker picks these Jobs up.
    l2TaskQueue: temporal.taskQueue,
  });
  server.on('request', app);

  return {
    db,
    temporal,
    store,
    testChain,
    chain,
    base,
    scope,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await inference.close();
      await hub.close();
      if (logFd !== undefined) fs.closeSync(logFd);
      await temporal.close();
      await db.drop();
      await testChain.stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
