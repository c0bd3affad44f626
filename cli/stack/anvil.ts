import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './ports';
import { spawnManaged, type ManagedProcess } from './child';

export interface AnvilOptions {
  /** 0 or undefined: a free port. */
  port?: number;
  host?: string;
  chainId?: number;
  /** Load state from and dump it to this file, so a restarted chain keeps balances and contracts. */
  stateFile?: string;
  logFile?: string;
  /** Records anvil's pid under `<pidHome>/pids/anvil.pid` while it runs. */
  pidHome?: string;
  signal?: AbortSignal;
}

export interface Anvil {
  rpcUrl: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '..', '..');

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/**
 * anvil's binary ships inside a per-platform npm package; nothing is downloaded. We run it
 * directly rather than through the package's node launcher, so signals reach anvil itself.
 */
export function anvilBinary(): string {
  const pkg = `@foundry-rs/anvil-${process.platform}-${ARCH[process.arch] ?? process.arch}`;
  const direct = path.join(ROOT, 'node_modules', pkg, 'bin', 'anvil');
  return fs.existsSync(direct) ? direct : path.join(ROOT, 'node_modules', '.bin', 'anvil');
}

export async function rpcAnswers(rpcUrl: string): Promise<boolean> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    signal: AbortSignal.timeout(1000),
  });
  return res.ok;
}

export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port || (await freePort(host));
  const args = ['--host', host, '--port', String(port), '--chain-id', String(opts.chainId ?? 31337)];
  if (opts.stateFile) args.push('--state', opts.stateFile, '--state-interval', '5');
  if (!opts.logFile) args.push('--silent');
  const rpcUrl = `http://${host}:${port}`;
  const proc = await spawnManaged({
    name: 'anvil',
    command: anvilBinary(),
    args,
    logFile: opts.logFile,
    ready: () => rpcAnswers(rpcUrl),
    readyTimeoutMs: 30_000,
    pidHome: opts.pidHome,
    stopSignal: 'SIGINT',
    signal: opts.signal,
  });
  // SIGINT makes anvil write its state file before exiting (SIGTERM may not).
  return { rpcUrl, port, process: proc, stop: () => proc.stop('SIGINT', 10_000) };
}
