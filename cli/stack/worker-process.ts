import path from 'node:path';
import { READY_MARKER } from '../../workers/shared/ready';
import { spawnManaged, type ManagedProcess } from './child';

export type WorkerScript = 'node' | 'verifier' | 'keyholder';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Runs `workers/<script>/main.ts` as its own process, logging to `logFile`, and resolves once it
 * prints its readiness marker (appended log files are read from where they ended before).
 */
export async function spawnWorkerProcess(opts: {
  name: string;
  script: WorkerScript;
  args: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  readyTimeoutMs?: number;
  /** Records the worker's pid under `<pidHome>/pids/<name>.pid` while it runs. */
  pidHome?: string;
  signal?: AbortSignal;
}): Promise<ManagedProcess> {
  const readyLine = `${READY_MARKER} ${opts.script}`;
  return spawnManaged({
    name: opts.name,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(ROOT, 'workers', opts.script, 'main.ts'), ...opts.args],
    cwd: ROOT,
    env: opts.env,
    logFile: opts.logFile,
    ready: async (logSinceStart) => logSinceStart().includes(readyLine),
    readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
    pidHome: opts.pidHome,
    stopSignal: 'SIGTERM',
    signal: opts.signal,
  });
}
