import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startTemporalDevServer, type TemporalDevServer } from '../../cli/stack/temporal';
import { TERMINAL_JOB_STATUSES } from '../../lib/types';
import type { JobView } from '../../cli/job-status';
import type { TestPipeline } from '../support/pipeline';

/** Fault injection for the chaos suite: each helper breaks one real process and brings it back. */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChaosTemporal {
  address: string;
  /** SIGTERM, then a fresh server on the same port and SQLite file: the history survives. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The suite's own Temporal dev server, never the test run's shared one: persistent (a SQLite file),
 * so workflows, timers and task queues survive its restart.
 */
export async function startChaosTemporal(): Promise<ChaosTemporal> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-chaos-temporal-'));
  const opts = {
    headless: true,
    dbFile: path.join(dir, 'temporal.sqlite'),
    logFile: path.join(dir, 'temporal.log'),
  };
  let server: TemporalDevServer = await startTemporalDevServer(opts);
  const port = Number(server.address.split(':').pop());
  return {
    address: server.address,
    async restart() {
      await server.stop();
      server = await startTemporalDevServer({ ...opts, port });
    },
    async stop() {
      await server.stop();
      if (!process.env.EMETH_TEST_KEEP_LOGS) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SIGSTOPs anvil (its RPC stops answering; connections hang), then SIGCONTs it after `ms`. */
export async function freezeAnvil(p: TestPipeline, ms: number): Promise<void> {
  const pid = p.chain.anvil.process.child.pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

/**
 * How to restart the real PostgreSQL at `url`, or undefined when it cannot be restarted from here.
 * A Debian cluster (CI: `/etc/postgresql/<ver>/<cluster>`) is restarted with pg_ctlcluster; any
 * other local data directory with its owner's pg_ctl. The embedded PGlite of the test support runs
 * in memory (a restart would lose everything), and on `emeth up` the embedded database lives inside
 * the L2 server's process, so there a database restart *is* the L2 restart of the first case.
 */
export async function postgresRestarter(url: string): Promise<(() => Promise<void>) | undefined> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  let dataDir: string;
  let version: string;
  try {
    await c.connect();
    version = (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v;
    if (version.includes('PGlite')) return undefined;
    dataDir = (await c.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
  } catch {
    return undefined;
  } finally {
    await c.end().catch(() => undefined);
  }
  // /var/lib/postgresql/<ver>/<cluster>: a Debian cluster.
  const debian = /^\/var\/lib\/postgresql\/([^/]+)\/([^/]+)\/?$/.exec(dataDir);
  if (debian && fs.existsSync(`/etc/postgresql/${debian[1]}/${debian[2]}`))
    return () => run('pg_ctlcluster', [debian[1]!, debian[2]!, 'restart'], {});
  const pgCtl = findPgCtl();
  if (!pgCtl || !fs.existsSync(dataDir)) return undefined;
  const { uid, gid } = fs.statSync(dataDir);
  // -l: the restarted server logs to a file; without it, it would inherit (and hold open) our pipes.
  return () =>
    run(
      pgCtl,
      ['-D', dataDir, '-m', 'fast', '-w', '-l', path.join(dataDir, 'chaos-restart.log'), 'restart'],
      {
        cwd: '/',
        uid,
        gid,
      },
    );
}

/** Runs a restart command with no pipes the server it starts could inherit; rejects on failure. */
function run(
  command: string,
  args: string[],
  opts: { cwd?: string; uid?: number; gid?: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...opts, stdio: 'ignore', timeout: 60_000 });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}; see the server's log`)),
    );
  });
}

function findPgCtl(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const versions = fs.readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(base, v, 'bin', 'pg_ctl');
    if (fs.existsSync(bin)) return bin;
  }
  return undefined;
}

/** Polls the database until one of the Job's attempts is open on a node (the Job is mid-flight). */
export async function waitForOpenAttempt(p: TestPipeline, jobId: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await p.db.prisma.attempt.count({ where: { outcome: null, subJob: { jobId } } })) === 0) {
    if (Date.now() > deadline) throw new Error(`no attempt of Job ${jobId} opened within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** The Job's row status, read from the database (the gateway may be the part that is down). */
export async function jobStatus(p: TestPipeline, jobId: string): Promise<string | undefined> {
  return (await p.db.prisma.job.findUnique({ where: { id: jobId } }))?.status;
}

/**
 * Waits until the Job is terminal, through the gateway, tolerating the errors of a part that is
 * still coming back (refused connections, 5xx) until `timeoutMs`.
 */
export async function waitForTerminal(p: TestPipeline, jobId: string, timeoutMs: number): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const job = await p.getJob(jobId);
      if ((TERMINAL_JOB_STATUSES as readonly string[]).includes(job.status)) return job;
      last = JSON.stringify({ status: job.status, subJobs: job.subJobs.map((s) => s.status) });
    } catch (err) {
      last = `gateway: ${(err as Error).message}`;
    }
    if (Date.now() > deadline)
      throw new Error(`Job ${jobId} not terminal after ${timeoutMs} ms; last: ${last}`);
    await sleep(500);
  }
}
