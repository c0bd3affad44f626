import fs from 'node:fs';
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
}): Promise<ManagedProcess> {
  const offset = fs.existsSync(opts.logFile) ? fs.statSync(opts.logFile).size : 0;
  const readyLine = `${READY_MARKER} ${opts.script}`;
  return spawnManaged({
    name: opts.name,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(ROOT, 'workers', opts.script, 'main.ts'), ...opts.args],
    cwd: ROOT,
    env: opts.env,
    logFile: opts.logFile,
    ready: async () => logShowsSince(opts.logFile, offset, readyLine),
    readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
  });
}

/**
 * Whether `line` was written to `logFile` after byte `offset`. A byte offset: earlier runs may have
 * logged multi-byte characters, so slicing the decoded text would skip past what this run wrote.
 */
export function logShowsSince(logFile: string, offset: number, line: string): boolean {
  return fs.existsSync(logFile) && fs.readFileSync(logFile).subarray(offset).includes(line);
}
