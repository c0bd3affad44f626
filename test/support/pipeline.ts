import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { NonceManager, Wallet } from 'ethers';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type EmethConfig } from '../../lib/config';
import { TERMINAL_JOB_STATUSES } from '../../lib/types';
import { DEV_ROLES, devKey } from '../../lib/dev-accounts';
import { EMETH, GHOLON } from '../../lib/fees';
import { meterFuel } from '../../lib/programs';
import { emethCore, emethToken, type EmethCore, type EmethToken } from '../../contracts/typed';
import { generateExamples } from '../../examples/generate';
import { modelCostOf } from '../../activities/programs';
import { decodeMatrix } from '../../lib/matrix';
import { spawnManaged, type ManagedProcess } from '../../cli/stack/child';
import { freePort } from '../../cli/stack/ports';
import { spawnWorkerProcess, type WorkerScript } from '../../cli/stack/worker-process';
import { GatewayClient } from '../../cli/gateway-client';
import type { JobView } from '../../cli/job-status';
import { grantVerifier, startTestChain, type TestChain } from './chain';
import { createTestDatabase } from './db';
import { testTemporalAddress } from './temporal';
import type { NodeBehaviour } from '../../workers/node/drills';
import { loadKeyring } from '../../workers/shared/codec-keys';
import { dataConverter } from '../../workers/shared/data-converter';
import { ROOT } from './process';
import { READY_MARKER } from '../../workers/shared/ready';
import { taskQueues } from '../../lib/task-queues';
import { lastActivityPoll } from '../../workers/shared/presence';
import { writeKeyFile } from '../../lib/participant-key';

/**
 * Three fresh keys for the suite's L2, as an operator would have: the L2 key (gas, and the roles
 * that send the L2's transactions), the ticket signer (SIGNER_ROLE) and the storage key.
 */
async function freshL2Keys(chain: TestChain): Promise<{ l2: string; signer: string; storage: string }> {
  const l2 = Wallet.createRandom();
  const signer = Wallet.createRandom();
  await chain.provider.send('anvil_setBalance', [l2.address, '0x56BC75E2D63100000']);
  const core = emethCore(chain.deployment.core, chain.deployer);
  for (const [role, who] of [
    [await core.VERIFIER_ROLE(), l2.address],
    [await core.L2_SERVER_ROLE(), l2.address],
    [await core.L1_SERVER_ROLE(), l2.address],
    [await core.SIGNER_ROLE(), signer.address],
  ] as const)
    await (await core.grantRole(role, who)).wait();
  return { l2: l2.privateKey, signer: signer.privateKey, storage: Wallet.createRandom().privateKey };
}

/** EMETH minted to each test node before it stakes 100 of it. */
export const NODE_FUNDING = 200n * EMETH;

export interface TestNode {
  address: string;
  wallet: { address: string; privateKey: string };
  process: ManagedProcess;
  logFile: string;
}

export interface SubmitOptions {
  /** 'l1': the Job runs on EmethCore step by step (its Request signed instead of a Commit). */
  layer?: 'l1' | 'l2';
  rows?: number;
  numParallel?: number;
  deadlineSeconds?: number;
  /** fuelLimit = needed × this (default 1.5), so refunds are visible. */
  fuelHeadroom?: number;
  /** Nodes of this class take the Job (default 'cpu'); tests give a class to one node to steer work to it. */
  capabilityClass?: string;
  /** Changes the generated dataset before upload (e.g. plants marker rows). */
  dataset?: (rows: Uint8Array) => Uint8Array;
  /** The model to run instead of the example MLP (same 32-wide input). */
  model?: Uint8Array;
  /** Run every SubJob on two nodes (onnx-inference's `replicate`); fuelLimit then covers both runs. */
  replicate?: boolean;
  /** Called with the uploaded blob ids before the Job is submitted (e.g. to lose a blob). */
  beforeSubmit?: (ids: { dataset: string; model: string }) => void;
  /** Uploads and submits as this requester instead of the suite's (e.g. a second requester). */
  as?: GatewayClient;
}

export interface Submitted {
  job: JobView;
  modelBytes: Uint8Array;
  datasetBytes: Uint8Array;
  fuelPrice: bigint;
}

/**
 * A whole L2 for one suite: its own anvil, database, task-queue prefix and gateway; the L2 server,
 * the nodes and the verifier as real processes on the run's Temporal server.
 */
export class TestPipeline {
  readonly nodes: TestNode[] = [];
  private readonly processes: ManagedProcess[] = [];

  private constructor(
    readonly config: EmethConfig,
    readonly env: NodeJS.ProcessEnv,
    readonly chain: TestChain,
    readonly db: Awaited<ReturnType<typeof createTestDatabase>>,
    readonly home: string,
    readonly requester: NonceManager,
    readonly gateway: GatewayClient,
    readonly temporal: Client,
    private readonly temporalConnection: Connection,
  ) {}

  /**
   * `env` overrides the suite's environment (e.g. EMETH_VERIFIERS, EMETH_VERIFY_*).
   * `prepareDeployment` runs before the L2 server starts, with the suite's chain and its L2 key's
   * address; what it returns is merged into the deployment the L2 reads (e.g. a test EmethMining).
   */
  static async start(
    opts: {
      env?: NodeJS.ProcessEnv;
      prepareDeployment?: (chain: TestChain, l2Address: string) => Promise<Partial<TestChain['deployment']>>;
    } = {},
  ): Promise<TestPipeline> {
    const [chain, db] = await Promise.all([startTestChain(), createTestDatabase()]);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-pipeline-'));
    const deploymentFile = path.join(home, 'deployment.json');
    fs.writeFileSync(deploymentFile, JSON.stringify(chain.deployment));
    const l2Keys = await freshL2Keys(chain);
    if (opts.prepareDeployment) {
      const extra = await opts.prepareDeployment(chain, new Wallet(l2Keys.l2).address);
      chain.deployment = { ...chain.deployment, ...extra };
      fs.writeFileSync(deploymentFile, JSON.stringify(chain.deployment));
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      EMETH_HOME: home,
      EMETH_TEMPORAL_ADDRESS: testTemporalAddress(),
      EMETH_CHAIN_RPC: chain.anvil.rpcUrl,
      EMETH_DATABASE_URL: db.url,
      EMETH_GATEWAY_PORT: String(await freePort()),
      EMETH_EDGE_PORT: String(await freePort()),
      EMETH_DEPLOYMENT_FILE: deploymentFile,
      EMETH_TASK_QUEUE_PREFIX: `t${randomBytes(4).toString('hex')}`,
      EMETH_VERIFIERS: new Wallet(devKey(DEV_ROLES.verifier)).address,
      EMETH_SIGNER_INTERVAL: '1s',
      EMETH_RECONCILE_INTERVAL: '2s',
      EMETH_RECONCILE_GRACE_MS: '3000',
      EMETH_NODE_PICKUP_TIMEOUT_MS: '5000',
      EMETH_NODE_HEARTBEAT_TIMEOUT_MS: '3000',
      EMETH_LOG_LEVEL: 'info',
      // The test anvil is not the embedded one: the L2 refuses public dev keys there (assertL2Keys).
      EMETH_L2_KEY: l2Keys.l2,
      EMETH_SIGNER_KEY: l2Keys.signer,
      EMETH_STORAGE_KEY: l2Keys.storage,
      ...opts.env,
    };
    const config = loadConfig(env);
    const requester = new NonceManager(new Wallet(devKey(DEV_ROLES.requester), chain.provider));
    const temporalConnection = await Connection.connect({ address: config.temporal.address });
    const p = new TestPipeline(
      config,
      env,
      chain,
      db,
      home,
      requester,
      new GatewayClient(config.gateway.url, requester, chain.deployment.chainId),
      new Client({ connection: temporalConnection, dataConverter: dataConverter(loadKeyring(config)) }),
      temporalConnection,
    );
    p.processes.push(
      await spawnManaged({
        name: 'l2',
        command: process.execPath,
        args: ['--import', 'tsx', path.join(ROOT, 'workers', 'l2', 'main.ts')],
        cwd: ROOT,
        env,
        logFile: path.join(home, 'l2.log'),
        ready: async () => (await fetch(`${config.gateway.url}/healthz`)).status === 200,
        readyTimeoutMs: 120_000,
      }),
    );
    return p;
  }

  token(): EmethToken {
    return emethToken(this.chain.deployment.token, this.chain.deployer);
  }

  core(): EmethCore {
    return emethCore(this.chain.deployment.core, this.chain.provider);
  }

  async balanceOf(address: string): Promise<bigint> {
    return this.token().balanceOf(address);
  }

  async stakeOf(address: string): Promise<bigint> {
    return (await this.core().getNode(address)).stake;
  }

  async depositOf(address: string): Promise<bigint> {
    return (await this.core().getDeposit(address)).balance;
  }

  async totalSupply(): Promise<bigint> {
    return this.token().totalSupply();
  }

  async totalBurned(): Promise<bigint> {
    return this.core().totalBurned();
  }

  async mint(to: string, amount: bigint): Promise<void> {
    await (await this.token().mint(to, amount)).wait();
  }

  /** Mints to the requester and deposits `amount` on EmethCore. */
  async deposit(amount: bigint): Promise<void> {
    const who = await this.requester.getAddress();
    await this.mint(who, amount);
    const token = emethToken(this.chain.deployment.token, this.requester);
    await (await token.approve(this.chain.deployment.core, amount)).wait();
    const core = emethCore(this.chain.deployment.core, this.requester);
    await (await core.deposit(amount)).wait();
  }

  /** Funds, stakes (100 EMETH) and starts a node worker process with the given behaviour. */
  async startNode(
    opts: {
      behaviour?: NodeBehaviour;
      slowMs?: number;
      capabilityClass?: string;
      minHolonPerGas?: bigint;
      /** --redeem-max-wait (s): with a high minHolonPerGas, how long it holds its tickets back. */
      redeemMaxWaitSeconds?: number;
      /** More node options, e.g. a drill's `--corrupt-rows`, `--honest-first`, `--scale`. */
      args?: string[];
    } = {},
  ): Promise<TestNode> {
    // A fresh key per node: gas from anvil, EMETH from the owner.
    const wallet = Wallet.createRandom();
    await this.chain.provider.send('anvil_setBalance', [wallet.address, '0x56BC75E2D63100000']);
    await this.mint(wallet.address, NODE_FUNDING);
    const logFile = path.join(this.home, `node-${wallet.address.slice(2, 8)}.log`);
    // The key in a 0600 file, as an operator would keep it: never on argv, where ps shows it.
    const keyFile = path.join(this.home, `node-${wallet.address.slice(2, 8)}.key`);
    writeKeyFile(keyFile, wallet.privateKey);
    const proc = await this.spawn('node', logFile, [
      '--key-file',
      keyFile,
      '--class',
      opts.capabilityClass ?? 'cpu',
      '--stake',
      '100',
      '--behaviour',
      opts.behaviour ?? 'honest',
      '--slow-ms',
      String(opts.slowMs ?? 60_000),
      '--min-holon-per-gas',
      String(opts.minHolonPerGas ?? 0n),
      ...(opts.redeemMaxWaitSeconds === undefined
        ? []
        : ['--redeem-max-wait', String(opts.redeemMaxWaitSeconds)]),
      ...(opts.args ?? []),
    ]);
    const node = { address: wallet.address.toLowerCase(), wallet, process: proc, logFile };
    this.nodes.push(node);
    return node;
  }

  /**
   * Starts a verifier, which also redeems its own fee tickets: by default the suite's EMETH_VERIFIERS
   * key (unfunded, so unstaked); with `wallet` (one of the addresses the suite was started with in
   * EMETH_VERIFIERS) a funded one that stakes 100 EMETH, with a `behaviour` drill and `auditOnly`.
   */
  async startVerifier(
    opts: {
      minHolonPerGas?: bigint;
      redeemMaxWaitSeconds?: number;
      wallet?: { address: string; privateKey: string };
      behaviour?: 'honest' | 'approve-all' | 'reject-all';
      auditOnly?: boolean;
    } = {},
  ): Promise<ManagedProcess> {
    if (opts.wallet) {
      await this.chain.provider.send('anvil_setBalance', [opts.wallet.address, '0x56BC75E2D63100000']);
      if ((await this.balanceOf(opts.wallet.address)) === 0n)
        await this.mint(opts.wallet.address, NODE_FUNDING);
    }
    const args = [
      ...(opts.behaviour ? ['--behaviour', opts.behaviour] : []),
      ...(opts.auditOnly ? ['--audit-only'] : []),
      ...(opts.minHolonPerGas === undefined ? [] : ['--min-holon-per-gas', String(opts.minHolonPerGas)]),
      ...(opts.redeemMaxWaitSeconds === undefined
        ? []
        : ['--redeem-max-wait', String(opts.redeemMaxWaitSeconds)]),
    ];
    // The key in the environment (EMETH_KEY), the other way a participant takes it.
    const key = opts.wallet?.privateKey ?? devKey(DEV_ROLES.verifier);
    // As the stack grants the verifiers it accepts: VERIFIER_ROLE, for L1 SubJobs.
    await grantVerifier(this.chain, new Wallet(key).address);
    const name = opts.wallet ? `verifier-${opts.wallet.address.slice(2, 8).toLowerCase()}` : 'verifier';
    return this.spawn('verifier', path.join(this.home, `${name}.log`), args, key);
  }

  /** Starts the requester's keyholder; resolves with its CKKS public key blob id and key directory. */
  async startKeyholder(): Promise<{ publicKey: string; dir: string; process: ManagedProcess }> {
    const logFile = path.join(this.home, 'keyholder.log');
    const dir = path.join(this.home, 'keyholder-keys');
    const proc = await this.spawn('keyholder', logFile, ['--dir', dir], devKey(DEV_ROLES.requester));
    const line = fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${READY_MARKER} keyholder`))!;
    return { publicKey: /publicKey=([0-9a-f]{64})/.exec(line)![1]!, dir, process: proc };
  }

  /** Generates the example model and `rows` rows, uploads both and submits an onnx-inference Job. */
  async submit(opts: SubmitOptions = {}): Promise<Submitted> {
    const rows = opts.rows ?? 600;
    const ex = await generateExamples(path.join(this.home, `examples-${rows}`), { rows });
    const modelBytes = opts.model ?? new Uint8Array(fs.readFileSync(ex.model.path));
    const generated = new Uint8Array(fs.readFileSync(ex.rows.path));
    const datasetBytes = opts.dataset ? opts.dataset(generated) : generated;
    const gateway = opts.as ?? this.gateway;
    const model = await gateway.putBlob(modelBytes);
    const dataset = await gateway.putBlob(datasetBytes);
    opts.beforeSubmit?.({ dataset: dataset.id, model: model.id });
    const fuelPrice = 120n * GHOLON;
    const needed = BigInt(
      meterFuel(
        rows,
        await modelCostOf(modelBytes, {
          rows: { dtype: 'float32', inner: [decodeMatrix(generated).cols] },
        }).catch(() => ({ workPerRow: 0, nodes: 1 })),
        10n ** 30n,
      ).required,
    );
    const numParallel = opts.numParallel ?? 3;
    const runs = opts.replicate ? 2n : 1n;
    const fuelLimit =
      runs * ((needed * BigInt(Math.round((opts.fuelHeadroom ?? 1.5) * 100))) / 100n + BigInt(numParallel));
    const job = await gateway.submitJob<JobView>(
      {
        programId: 1,
        dataset: dataset.id,
        model: model.id,
        numParallel,
        fuelLimit: fuelLimit.toString(),
        fuelPrice: fuelPrice.toString(),
        deadlineSeconds: opts.deadlineSeconds ?? 300,
        capabilityClass: opts.capabilityClass ?? 'cpu',
        ...(opts.replicate ? { replicate: true } : {}),
        ...(opts.layer ? { layer: opts.layer } : {}),
      },
      this.chain.deployment.core,
    );
    return { job, modelBytes, datasetBytes, fuelPrice };
  }

  getJob(id: string): Promise<JobView> {
    return this.gateway.request<JobView>('GET', `/v1/jobs/${id}`);
  }

  /** Polls the Job until `done(job)` holds. */
  async waitForJob(id: string, done: (j: JobView) => boolean, timeoutMs = 120_000): Promise<JobView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.getJob(id);
      if (done(job)) return job;
      if (Date.now() > deadline)
        throw new Error(
          `Job ${id} did not reach the expected state; last: ${JSON.stringify({ status: job.status, subJobs: job.subJobs })}`,
        );
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  /** Every attempt on the Job's SubJobs, in attempt order. */
  attemptsOf(jobId: string) {
    return this.db.prisma.attempt.findMany({ where: { subJob: { jobId } }, orderBy: { attempt: 'asc' } });
  }

  /** Polls the database until an attempt of the Job's SubJobs has closed with `outcome`. */
  async waitForAttempt(jobId: string, outcome: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.db.prisma.attempt.count({ where: { outcome, subJob: { jobId } } })) === 0) {
      if (Date.now() > deadline)
        throw new Error(`no ${outcome} attempt on Job ${jobId} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  /**
   * Resolves once the node's worker polls its own queue again after `since` (ms since the epoch).
   * After an L2 restart the node's gRPC channel redials the edge with its own backoff (up to two
   * minutes), while Temporal still lists the old poller as recent: a SubJob offered meanwhile
   * waits out its pickup timeout on a node that is not there yet.
   */
  async waitForPolling(nodeId: string, since: number, timeoutMs = 240_000): Promise<void> {
    const queue = taskQueues(this.config.temporal.taskQueuePrefix).node(nodeId.toLowerCase());
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await lastActivityPoll(this.temporal, this.config.temporal.namespace, queue)) > since) return;
      if (Date.now() > deadline)
        throw new Error(`node ${nodeId} did not poll ${queue} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Resolves when the Job's workflow closes (exact timing, no polling), then returns its view. */
  async workflowDone(job: JobView): Promise<JobView> {
    await this.temporal.workflow.getHandle(job.workflowId).result();
    return this.getJob(job.id);
  }

  waitForEnd(id: string, timeoutMs?: number): Promise<JobView> {
    return this.waitForJob(
      id,
      (j) => (TERMINAL_JOB_STATUSES as readonly string[]).includes(j.status),
      timeoutMs,
    );
  }

  /**
   * Waits until every ticket of the Job (only its node's or its verifier's with `role`) is batched
   * and redeemed on EmethCore: nodes and the verifier each redeem their own.
   */
  async waitForRedemptions(jobId: string, timeoutMs = 60_000, role?: 'node' | 'verifier'): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const core = this.core();
    for (;;) {
      const tickets = await this.db.prisma.ticket.findMany({ where: { jobId, ...(role ? { role } : {}) } });
      const batches = new Map((await this.db.prisma.batch.findMany()).map((b) => [b.id, b.root]));
      let redeemed = 0;
      for (const t of tickets) {
        const root = t.batchId !== null ? batches.get(t.batchId) : undefined;
        if (root !== undefined && t.leafIndex !== null && (await core.isRedeemed(root, t.leafIndex)))
          redeemed += 1;
      }
      if (redeemed === tickets.length) return redeemed;
      if (Date.now() > deadline)
        throw new Error(`${tickets.length - redeemed} of ${tickets.length} tickets unredeemed`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async spawn(
    script: WorkerScript,
    logFile: string,
    args: string[],
    key?: string,
  ): Promise<ManagedProcess> {
    const proc = await spawnWorkerProcess({
      name: path.basename(logFile, '.log'),
      script,
      args,
      key,
      env: this.env,
      logFile,
      readyTimeoutMs: 90_000,
    });
    this.processes.push(proc);
    return proc;
  }

  // ── Chaos hooks (test/chaos): the L2 server as a process a suite can kill and start again. ──

  /** The running L2 server process. */
  l2Process(): ManagedProcess {
    const l2 = this.processes.find((p) => p.name === 'l2');
    if (!l2) throw new Error('the pipeline has no L2 server process');
    return l2;
  }

  /**
   * SIGKILLs the L2 server's process group (no clean shutdown: the worker, the gateway, the node edge
   * and, on PGlite, nothing else go with it), waits `downMs`, then starts it again with the same
   * environment: same ports, database, home and task queues. Its spawn mirrors `start()`'s.
   */
  async restartL2(opts: { downMs?: number } = {}): Promise<void> {
    const old = this.l2Process();
    if (old.child.pid !== undefined) {
      try {
        process.kill(-old.child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await old.exited;
    if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
    const next = await spawnManaged({
      name: 'l2',
      command: process.execPath,
      args: ['--import', 'tsx', path.join(ROOT, 'workers', 'l2', 'main.ts')],
      cwd: ROOT,
      env: this.env,
      logFile: path.join(this.home, 'l2.log'),
      ready: async () => (await fetch(`${this.config.gateway.url}/healthz`)).status === 200,
      readyTimeoutMs: 120_000,
    });
    this.processes[this.processes.indexOf(old)] = next;
  }

  async stop(): Promise<void> {
    for (const p of this.processes.reverse()) await p.stop('SIGTERM', 10_000).catch(() => {});
    for (const name of ['signer', 'mining']) {
      const scheduleId = `${this.config.temporal.taskQueuePrefix}-l2-${name}`;
      await this.temporal.schedule
        .getHandle(scheduleId)
        .delete()
        .catch(() => {});
    }
    await this.temporalConnection.close();
    await Promise.allSettled([this.chain.stop(), this.db.drop()]);
    if (!process.env.EMETH_TEST_KEEP_LOGS) fs.rmSync(this.home, { recursive: true, force: true });
  }
}
