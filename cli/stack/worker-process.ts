import path from 'node:path';
import { READY_MARKER } from '../../workers/shared/ready';
import { spawnManaged, type ManagedProcess } from './child';

export type WorkerScript = 'node' | 'verifier' | 'keyholder';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * A participant's environment: its own key as EMETH_KEY, and none of the deployment's secrets it
 * has no business holding (the L2's keys).
 */
export function participantEnv(env: NodeJS.ProcessEnv, key?: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const name of PARTICIPANT_STRIPPED) delete out[name];
  if (key !== undefined) out.EMETH_KEY = key;
  return out;
}

/**
 * Secrets of the L2 server and the operator, never handed to a node, verifier or keyholder. The
 * codec keyring among them: participants exchange payloads sealed to their own keys
 * (lib/sealed-payloads), so only the L2 and the operator's /codec hold it.
 */
const PARTICIPANT_STRIPPED = [
  'EMETH_CODEC_KEYS',
  'EMETH_CODEC_KEY_ID',
  'EMETH_KEY',
  'EMETH_L2_KEY',
  'EMETH_SIGNER_KEY',
  'EMETH_STORAGE_KEY',
  'EMETH_DEPLOYER_KEY',
  'EMETH_CODEC_TOKEN',
];

/**
 * Runs `workers/<script>/main.ts` as its own process, logging to `logFile`, and resolves once it
 * prints its readiness marker (appended log files are read from where they ended before).
 */
export async function spawnWorkerProcess(opts: {
  name: string;
  script: WorkerScript;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** The participant's private key: passed as EMETH_KEY in its environment, never on argv (ps shows argv). */
  key?: string;
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
    env: participantEnv(opts.env, opts.key),
    logFile: opts.logFile,
    ready: async (logSinceStart) => logSinceStart().includes(readyLine),
    readyTimeoutMs: opts.readyTimeoutMs ?? 120_000,
    pidHome: opts.pidHome,
    stopSignal: 'SIGTERM',
    signal: opts.signal,
  });
}
