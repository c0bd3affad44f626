import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes';
import { freePort } from './ports';
import { StartupError } from '../../lib/errors';
import { spawnManaged, type ManagedProcess } from './child';

// The Temporal CLI lookup is shared with the bootstrap script, which runs before npm install.
const temporalCli = require('../../scripts/temporal-cli.cjs') as {
  findTemporal(env?: NodeJS.ProcessEnv): string | undefined;
  ensureTemporal(env?: NodeJS.ProcessEnv, log?: (m: string) => void): string;
};

export interface TemporalDevServerOptions {
  /** Path to the `temporal` CLI; found (or built) the bootstrap's way when omitted. */
  bin?: string;
  host?: string;
  /** 0 or undefined: a free port. */
  port?: number;
  /** The UI's port; ignored when headless. */
  uiPort?: number;
  headless?: boolean;
  /** SQLite file for persistent state; undefined keeps everything in memory. */
  dbFile?: string;
  namespace?: string;
  logFile?: string;
  /** Passed to the UI so it can show decoded payloads. */
  codecEndpoint?: string;
  /** Records the server's pid under `<pidHome>/pids/temporal.pid` while it runs. */
  pidHome?: string;
  /** Aborted: a start in progress is killed and rejects (a Ctrl-C during `emeth up`'s start). */
  signal?: AbortSignal;
  /** More `--dynamic-config-value name=value` settings (benchmarks compare server settings). */
  dynamicConfig?: Record<string, string | number | boolean>;
}

export interface TemporalDevServer {
  address: string;
  namespace: string;
  uiUrl?: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export function resolveTemporalBin(explicit?: string): string {
  return explicit ?? temporalCli.ensureTemporal(process.env, (m) => process.stderr.write(`emeth: ${m}\n`));
}

export async function temporalAnswers(address: string): Promise<boolean> {
  const conn = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    await conn.workflowService.getSystemInfo({});
    return true;
  } finally {
    await conn.close();
  }
}

/**
 * `temporal server start-dev` with EMETH's search attributes registered.
 *
 * The dev server picks ports for its internal services itself (bind to port 0, close, bind again
 * later), and on a busy machine another process can take one in between; the server then panics
 * at start. That is a race, not a fault in the setup, so a start that dies early is tried again
 * (with fresh ports wherever the caller left the choice to us).
 */
export async function startTemporalDevServer(
  opts: TemporalDevServerOptions = {},
): Promise<TemporalDevServer> {
  const attempts = 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      if (!(e instanceof StartupError) || e.reason !== 'exited' || attempt >= attempts) throw e;
      process.stderr.write(
        `emeth: ${e.message.split('\n')[0]}; trying again (${attempt + 1} of ${attempts})\n`,
      );
    }
  }
}

/**
 * Extra dynamic config for every dev server EMETH starts (none today). Measured and not applied:
 * the dev server runs one history shard, whose transfer queue (it turns a scheduled activity or
 * workflow task into a task on its queue) polls at most `history.transferProcessorMaxPollRPS` = 20
 * times a second, so every task waits up to 50 ms; at 1000 an Update → node activity took 20 ms
 * instead of 100 and P5 1.38 s instead of 2.38 s (bench/inference-mechanism.ts, bench/p1-p5-pipeline.ts
 * `--transfer-rps`). With it, two suites that restart the L2 under CI load (e2e/orphans,
 * attacks/cheats) failed where they pass without it: applying it waits for that to be understood.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, string | number | boolean> = {};

async function startOnce(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port || (await freePort(host));
  const namespace = opts.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--http-port',
    String(await freePort(host)),
    '--metrics-port',
    String(await freePort(host)),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    // The version check calls out to the internet, which these machines cannot reach.
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
  ];
  const dynamicConfig = { ...DEV_SERVER_DYNAMIC_CONFIG, ...opts.dynamicConfig };
  for (const [name, value] of Object.entries(dynamicConfig))
    args.push('--dynamic-config-value', `${name}=${JSON.stringify(value)}`);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    args.push('--search-attribute', `${name}=${type}`);
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  let uiUrl: string | undefined;
  if (opts.headless) {
    args.push('--headless');
  } else {
    const uiPort = opts.uiPort || (await freePort(host));
    args.push('--ui-ip', host, '--ui-port', String(uiPort));
    if (opts.codecEndpoint) args.push('--ui-codec-endpoint', opts.codecEndpoint);
    uiUrl = `http://${host}:${uiPort}`;
  }
  const address = `${host}:${port}`;
  const proc = await spawnManaged({
    name: 'temporal',
    command: resolveTemporalBin(opts.bin),
    args,
    logFile: opts.logFile,
    ready: () => temporalAnswers(address),
    readyTimeoutMs: 60_000,
    pidHome: opts.pidHome,
    stopSignal: 'SIGTERM',
    signal: opts.signal,
  });
  return { address, namespace, uiUrl, process: proc, stop: () => proc.stop('SIGTERM', 15_000) };
}
