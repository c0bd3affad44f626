import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EmethError, StartupError } from '../../lib/errors';
import { removePidFile, writePidFile } from './pid-files';

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves when the whole process group is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here; undefined = inherit this process's streams. */
  logFile?: string;
  /** Polled until it resolves true; `logSinceStart` is what this start has written to `logFile`. */
  ready: (logSinceStart: () => Buffer) => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Records the child's pid under `<home>/pids/<name>.pid` while it runs (see pid-files.ts). */
  pidHome?: string;
  /** The signal that stops it cleanly, written to its pid file for a later run that finds it left over. */
  stopSignal?: NodeJS.Signals;
  /** Aborting it while the child is not ready yet kills it and rejects with a StartInterruptedError. */
  signal?: AbortSignal;
}

/** A stop was requested (SIGINT/SIGTERM) while the stack was starting. */
export class StartInterruptedError extends EmethError {
  constructor(what: string) {
    super('INTERRUPTED', `the start was interrupted (SIGINT/SIGTERM) while ${what} was starting`);
  }
}

/**
 * Every managed child still running, in start order. A forced exit (a second Ctrl-C) has no time
 * for the ordered stop; it SIGKILLs these groups synchronously so no part outlives the supervisor.
 */
const running = new Set<ChildProcess>();

/** SIGKILLs the process group of every managed child still running; synchronous, for a forced exit. */
export function killAllNow(): number[] {
  const pids: number[] = [];
  for (const child of running) {
    if (child.pid === undefined) continue;
    killGroup(child.pid, 'SIGKILL');
    pids.push(child.pid);
  }
  return pids;
}

/**
 * Starts a long-running child in its own process group, so a terminal's Ctrl-C reaches only the
 * supervisor, which then stops children in a deliberate order (workers before the servers they use).
 */
export async function spawnManaged(opts: SpawnOptions): Promise<ManagedProcess> {
  let stdio: ('ignore' | 'inherit' | number)[] = ['ignore', 'inherit', 'inherit'];
  let fd: number | undefined;
  // The log is appended to across restarts: readiness and failures read only what this start wrote,
  // from a byte offset (earlier runs may have logged multi-byte characters, so never a text index).
  const logStart = opts.logFile && fs.existsSync(opts.logFile) ? fs.statSync(opts.logFile).size : 0;
  const logSinceStart = (): Buffer =>
    opts.logFile && fs.existsSync(opts.logFile)
      ? fs.readFileSync(opts.logFile).subarray(logStart)
      : Buffer.alloc(0);
  if (opts.logFile) {
    fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
    // Logs can name addresses, ids and paths: readable by their owner only, an older file included.
    fd = fs.openSync(opts.logFile, 'a', 0o600);
    fs.fchmodSync(fd, 0o600);
    stdio = ['ignore', fd, fd];
  }
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio,
    detached: true,
  });
  if (fd !== undefined) fs.closeSync(fd);
  const pid = child.pid;
  if (pid !== undefined) {
    running.add(child);
    if (opts.pidHome) writePidFile(opts.pidHome, opts.name, pid, opts.stopSignal);
  }
  child.once('exit', () => {
    running.delete(child);
    if (opts.pidHome && pid !== undefined) removePidFile(opts.pidHome, opts.name, pid);
  });

  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', () => resolve('spawn-error'));
  });
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    killGroup(child.pid, signal);
    const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    killGroup(child.pid, 'SIGKILL'); // anything the child left behind in its group
  };

  const managed: ManagedProcess = { name: opts.name, child, exited, stop };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  let done = false;
  void exited.then(() => (done = true));
  for (;;) {
    if (spawnError)
      throw new StartupError(opts.name, `could not run ${opts.command}: ${spawnError.message}`, 'spawn');
    if (done) {
      const detail = `exited with ${await exited} before it was ready${logHint(opts.logFile, logSinceStart())}`;
      throw new StartupError(opts.name, detail, 'exited');
    }
    if (opts.signal?.aborted) {
      await stop(opts.stopSignal ?? 'SIGTERM', 10_000);
      throw new StartInterruptedError(opts.name);
    }
    if (await opts.ready(logSinceStart).catch(() => false)) return managed;
    if (Date.now() > deadline) {
      await stop('SIGKILL');
      const detail = `not ready after ${opts.readyTimeoutMs ?? 60_000} ms${logHint(opts.logFile, logSinceStart())}`;
      throw new StartupError(opts.name, detail, 'timeout');
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * The cause and the last lines. A Go panic prints its message first and a long stack after it, so
 * the tail alone would hide why the process died.
 */
function logHint(logFile: string | undefined, written: Buffer): string {
  if (!logFile || written.length === 0) return '';
  const lines = written.toString('utf8').trim().split('\n');
  const cause = lines.find((l) => /^(panic:|fatal error:)|level=(ERROR|FATAL)/.test(l));
  const tail = lines.slice(-8).join('\n');
  return `; ${cause ? `cause: ${cause.trim()}\n` : ''}last lines of ${logFile}:\n${tail}`;
}
