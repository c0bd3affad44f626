import fs from 'node:fs';
import path from 'node:path';
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import type { EmethConfig } from '../../lib/config';
import type { Deployment } from '../../lib/types-chain';
import { deployContracts } from '../../contracts/deploy';
import { emethCore } from '../../contracts/typed';
import { ensureDeployment } from '../../workers/shared/deployment';
import { assertPortFree } from './ports';
import { spawnManaged, StartInterruptedError, type ManagedProcess } from './child';
import { endLeftovers, removePidFile, SUPERVISOR, writePidFile } from './pid-files';
import { startAnvil, type Anvil } from './anvil';
import { startTemporalDevServer, type TemporalDevServer } from './temporal';
import { spawnWorkerProcess, type WorkerScript } from './worker-process';

export interface Stack {
  config: EmethConfig;
  deployment: Deployment;
  deploymentReused: boolean;
  temporalUiUrl?: string;
  gatewayUrl: string;
  logDir: string;
  /** Resolves with the name of the first part that exits on its own (a crash). */
  crashed: Promise<string>;
  /** Starts a worker process (node, verifier) that the stack stops first; resolves once its log says it is ready. */
  spawnWorker(name: string, script: WorkerScript, args: string[], key?: string): Promise<ManagedProcess>;
  /** Stops the parts in reverse order of their start; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartStackOptions {
  /** Environment for the child processes (the L2 server reads its config from it). */
  env: NodeJS.ProcessEnv;
  log(message: string): void;
  /** Aborted on the first SIGINT/SIGTERM: a start in progress stops what it started and rejects. */
  signal?: AbortSignal;
}

const ROOT = path.resolve(__dirname, '..', '..');

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** Fails before starting anything when a port the embedded parts need is taken. */
async function checkPorts(config: EmethConfig): Promise<void> {
  const checks: [number, string, string][] = [];
  if (config.temporal.embedded) {
    checks.push([portOf(config.temporal.address), 'Temporal frontend', 'EMETH_TEMPORAL_PORT']);
    checks.push([config.temporal.uiPort, 'Temporal UI', 'EMETH_TEMPORAL_UI_PORT']);
  }
  if (config.chain.embedded) checks.push([config.chain.anvilPort, 'anvil JSON-RPC', 'EMETH_ANVIL_PORT']);
  if (config.database.embedded)
    checks.push([config.database.pglitePort, 'embedded PostgreSQL', 'EMETH_PGLITE_PORT']);
  checks.push([config.gateway.port, 'REST gateway', 'EMETH_GATEWAY_PORT']);
  checks.push([config.edge.port, 'node edge', 'EMETH_EDGE_PORT']);
  for (const [port, what, variable] of checks) await assertPortFree(port, what, variable);
}

async function gatewayHealthy(url: string): Promise<boolean> {
  const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) });
  return res.status === 200;
}

/**
 * Starts the embedded stack: Temporal dev server, anvil with the contracts, and the L2 server
 * (database, L2 worker, gateway). Parts configured to live elsewhere are used, not started.
 */
export async function startStack(config: EmethConfig, opts: StartStackOptions): Promise<Stack> {
  const logDir = path.join(config.home, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  // Parts an earlier run left behind (its supervisor was killed) would hold the ports: end them first.
  await endLeftovers(config.home, opts.log);
  await checkPorts(config);
  writePidFile(config.home, SUPERVISOR, process.pid);
  const pidHome = config.home;
  const signal = opts.signal;
  const checkInterrupted = (next: string) => {
    if (signal?.aborted) throw new StartInterruptedError(next);
  };

  const started: { name: string; stop(): Promise<void>; exited: Promise<unknown> }[] = [];
  let stopped: Promise<void> | undefined;
  // Every caller (a signal, a crash, the demo's end) waits for the same ordered stop.
  const stop = () =>
    (stopped ??= (async () => {
      for (const part of started.reverse()) {
        opts.log(`stopping ${part.name}...`);
        await part.stop();
      }
      removePidFile(config.home, SUPERVISOR, process.pid);
    })());
  const track = (name: string, proc: ManagedProcess, stopFn: () => Promise<void>) =>
    started.push({ name, stop: stopFn, exited: proc.exited.then(() => name) });

  try {
    let temporal: TemporalDevServer | undefined;
    if (config.temporal.embedded) {
      opts.log('starting the Temporal dev server...');
      temporal = await startTemporalDevServer({
        bin: config.temporal.bin,
        port: portOf(config.temporal.address),
        uiPort: config.temporal.uiPort,
        dbFile: config.temporal.dbFile,
        namespace: config.temporal.namespace,
        // Payloads are encrypted (lib/payload-codec): the UI decodes them through the gateway.
        codecEndpoint: `${config.gateway.url}/codec`,
        logFile: path.join(logDir, 'temporal.log'),
        pidHome,
        signal,
      });
      track('temporal', temporal.process, temporal.stop);
    }

    let anvil: Anvil | undefined;
    checkInterrupted('anvil');
    if (config.chain.embedded) {
      opts.log('starting anvil...');
      anvil = await startAnvil({
        port: config.chain.anvilPort,
        chainId: config.chain.chainId,
        stateFile: config.chain.stateFile,
        logFile: path.join(logDir, 'anvil.log'),
        pidHome,
        signal,
      });
      track('anvil', anvil.process, anvil.stop);
    }

    const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0 });
    const signer = new NonceManager(new Wallet(config.chain.deployerKey, provider));
    // The L2 key sends the L2's transactions and burns penalties, the signer key signs ticket
    // batches; the deployer stays the owner (mints).
    const l2Address = new Wallet(config.l2.key).address;
    const signerAddress = new Wallet(config.l2.signerKey).address;
    const { deployment, reused } = await ensureDeployment(config.chain.deploymentFile, provider, () =>
      deployContracts(signer, {
        signers: [signerAddress],
        // The L2 burns L2 penalties as a verifier; the verifiers the L2 accepts judge L1 SubJobs on chain.
        verifiers: [l2Address, ...config.l2.verifiers],
        // The L2 key registers L1 Jobs' SubJobs (paper 7-2).
        l1Servers: [l2Address],
        l2Servers: [l2Address],
        miningEpochSeconds: config.mining.epochSeconds,
        miningFund: config.mining.fund,
      }),
    );
    // An embedded chain state from before the signer had its own key: give the signer key its role.
    if (config.chain.embedded) {
      const core = emethCore(deployment.core, signer);
      const wanted: [string, string][] = [
        [await core.SIGNER_ROLE(), signerAddress],
        // ... and from before L1 Jobs ran through the workflows.
        [await core.L1_SERVER_ROLE(), l2Address],
        ...(await Promise.all(
          config.l2.verifiers.map(async (v) => [await core.VERIFIER_ROLE(), v] as [string, string]),
        )),
      ];
      for (const [role, who] of wanted)
        if (!(await core.hasRole(role, who))) await (await core.grantRole(role, who)).wait();
    }
    provider.destroy();
    opts.log(reused ? 'contracts found on chain (state resumed)' : 'contracts deployed');

    checkInterrupted('the L2 server');
    opts.log('starting the L2 server (database, L2 worker, gateway)...');
    const l2 = await spawnManaged({
      name: 'l2',
      command: process.execPath,
      args: ['--import', 'tsx', path.join(ROOT, 'workers', 'l2', 'main.ts')],
      cwd: ROOT,
      env: { ...opts.env, EMETH_HOME: config.home, EMETH_DEPLOYMENT_FILE: config.chain.deploymentFile },
      logFile: path.join(logDir, 'l2.log'),
      ready: () => gatewayHealthy(config.gateway.url),
      readyTimeoutMs: 120_000,
      pidHome,
      stopSignal: 'SIGTERM',
      signal,
    });
    track('l2', l2, () => l2.stop('SIGTERM', 20_000));

    let crash: (name: string) => void = () => {};
    const crashed = new Promise<string>((resolve) => (crash = resolve));
    for (const p of started) void p.exited.then((name) => crash(String(name)));

    const spawnWorker = async (
      name: string,
      script: WorkerScript,
      args: string[],
      key?: string,
    ): Promise<ManagedProcess> => {
      const proc = await spawnWorkerProcess({
        name,
        script,
        args,
        key,
        env: { ...opts.env, EMETH_HOME: config.home, EMETH_DEPLOYMENT_FILE: config.chain.deploymentFile },
        logFile: path.join(logDir, `${name}.log`),
        pidHome,
      });
      started.push({ name, stop: () => proc.stop('SIGTERM', 15_000), exited: proc.exited.then(() => name) });
      void proc.exited.then(() => crash(name));
      return proc;
    };

    return {
      spawnWorker,
      config,
      deployment,
      deploymentReused: reused,
      temporalUiUrl: temporal?.uiUrl,
      gatewayUrl: config.gateway.url,
      logDir,
      crashed,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
