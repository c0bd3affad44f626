// The embedded PostgreSQL (PGlite behind prisma/embedded/server.ts) on a real data directory:
// real `prisma migrate deploy`, real Prisma clients in this process and in a second one, real
// process kills. Nothing is mocked. The server runs as its own process (prisma/embedded/main.ts),
// as it does beside the L2 server: PGlite cannot start inside jest's module sandbox (it loads its
// WASM through dynamic import(), refused there without --experimental-vm-modules).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createPrismaClient, type PrismaClient } from '../../prisma/client';
import { migrateDeploy } from '../../prisma/migrate';
import { startEmbeddedPostgres } from '../../prisma/embedded/server';
import { acquireDataDirLock, LOCK_FILE } from '../../prisma/embedded/lock';
import { startEmbeddedPostgresProcess, type EmbeddedPostgresProcess } from '../support/db';
import { runWorkload, type WorkloadResult } from './embedded-postgres.worker';

const ROOT = path.resolve(__dirname, '..', '..');
const WORKER = path.join(__dirname, 'embedded-postgres.worker.ts');

interface Proc {
  child: ChildProcess;
  out(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/** Runs a TypeScript file with tsx as a separate process. */
function runTs(file: string, args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    out: () => out,
    exited,
    async waitFor(pattern, timeoutMs = 30_000) {
      const t0 = Date.now();
      while (!pattern.test(out)) {
        if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before ${pattern}:\n${out}`);
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${pattern}:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

describe('embedded PostgreSQL (PGlite) on a data directory', () => {
  let dataDir: string;
  let server: EmbeddedPostgresProcess;
  let prisma: PrismaClient;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-pglite-'));
    let t0 = Date.now();
    server = await startEmbeddedPostgresProcess({ dataDir });
    const initMs = Date.now() - t0;
    t0 = Date.now();
    await migrateDeploy(server.url);
    process.stderr.write(
      `[embedded-postgres] initdb+start ${initMs} ms, migrate deploy ${Date.now() - t0} ms\n`,
    );
    prisma = createPrismaClient(server.url);
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('has the migrations applied by the real `prisma migrate deploy`', async () => {
    const applied = await prisma.$queryRaw<{ migration_name: string; finished: boolean }[]>`
      SELECT migration_name, finished_at IS NOT NULL AS finished FROM _prisma_migrations ORDER BY migration_name`;
    expect(applied[0]).toEqual({ migration_name: '0001_init', finished: true });
    const cols = await prisma.$queryRaw<{ column_name: string }[]>`
      SELECT column_name FROM information_schema.columns WHERE table_name = 'WiringCheck' ORDER BY column_name`;
    expect(cols.map((c) => c.column_name)).toEqual([
      'blockNumber',
      'chainId',
      'createdAt',
      'id',
      'tokenAddress',
      'tokenSupply',
    ]);
    // a second deploy finds nothing to do and succeeds
    await expect(migrateDeploy(server.url)).resolves.toBeUndefined();
  });

  it('serves concurrent clients in this process and in a second process with no wrong rows', async () => {
    const other = runTs(WORKER, ['workload', server.url, 'proc2', '4', '12']);
    const second = createPrismaClient(server.url, { max: 5 });
    let local: WorkloadResult[];
    try {
      local = await Promise.all([runWorkload(prisma, 'procA', 4, 12), runWorkload(second, 'procB', 4, 12)]);
    } finally {
      await second.$disconnect();
    }
    expect(await other.exited).toBe(0);
    const line = other.out().match(/^RESULT (.*)$/m);
    expect(line).not.toBeNull();
    const remote = JSON.parse(line![1]!) as WorkloadResult;

    for (const r of [...local, remote]) {
      expect(r.wrong).toEqual([]);
      expect(r.errors).toEqual([]);
      expect(r.ok).toBe(4 * 12 * 4); // 4 loops x 12 iterations x 4 checked operations
      expect(r.committed).toBe(4 * 12 * 3);
    }
    // every committed row is there, under the tag of the caller that wrote it
    for (const tag of ['procA', 'procB', 'proc2']) {
      expect(await prisma.wiringCheck.count({ where: { tokenAddress: tag } })).toBe(4 * 12 * 3);
    }
  });

  it('rolls back the transaction of a client killed in the middle of it', async () => {
    const holder = runTs(WORKER, ['hold-tx', server.url, 'killed-mid-tx']);
    await holder.waitFor(/in-transaction/);
    holder.child.kill('SIGKILL');
    await holder.exited;
    // The next client gets the session (it would wait forever behind an open transaction) ...
    const row = await prisma.wiringCheck.findUnique({ where: { id: 'killed-mid-tx' } });
    expect(row).toBeNull();
    // ... and can write the very row the killed one had inserted.
    await prisma.wiringCheck.create({
      data: { id: 'killed-mid-tx', chainId: 2, blockNumber: 2n, tokenAddress: 'after', tokenSupply: '2' },
    });
    expect(
      (await prisma.wiringCheck.findUniqueOrThrow({ where: { id: 'killed-mid-tx' } })).tokenAddress,
    ).toBe('after');
  });

  it('refuses a second server on the same data directory, from this process and from another one', async () => {
    const holder = server.child.pid!;
    expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').split('\n')[0]).toBe(String(holder));
    await expect(startEmbeddedPostgres({ dataDir, port: 0 })).rejects.toThrow(
      `data directory ${dataDir} is in use by process ${holder}`,
    );
    const other = runTs(path.join(ROOT, 'prisma', 'embedded', 'main.ts'), ['--data', dataDir, '--port', '0']);
    expect(await other.exited).toBe(1);
    expect(other.out()).toContain(`is in use by process ${holder}`);
    // the refused attempts left the running server and its lock alone
    expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').split('\n')[0]).toBe(String(holder));
    expect(await prisma.wiringCheck.count({ where: { id: 'killed-mid-tx' } })).toBe(1);
  });

  it('keeps the data across stop and restart, and releases the lock on stop', async () => {
    const before = await prisma.wiringCheck.count();
    expect(before).toBe(3 * 4 * 12 * 3 + 1);
    await prisma.$disconnect();
    expect(await server.stop()).toBe(0);
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);

    const t0 = Date.now();
    server = await startEmbeddedPostgresProcess({ dataDir });
    process.stderr.write(`[embedded-postgres] restart (process + reopen) ${Date.now() - t0} ms\n`);
    expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').split('\n')[0]).toBe(
      String(server.child.pid),
    );
    prisma = createPrismaClient(server.url);
    expect(await prisma.wiringCheck.count()).toBe(before);
    const row = await prisma.wiringCheck.findUniqueOrThrow({ where: { id: 'procA-3-7' } });
    expect(row).toMatchObject({ chainId: 3, blockNumber: 7n, tokenSupply: '49' });
    await expect(migrateDeploy(server.url)).resolves.toBeUndefined();
  });
});

describe('embedded PostgreSQL lock and guards', () => {
  it('refuses a second lock on a data directory within one process', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-pglite-lock-'));
    const lock = acquireDataDirLock(dir);
    try {
      expect(() => acquireDataDirLock(dir)).toThrow(`data directory ${dir} is in use by this process`);
    } finally {
      lock.release();
    }
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    acquireDataDirLock(dir).release(); // free again after release
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('takes over a stale lock left by a dead process', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-pglite-stale-'));
    const dead = spawn(process.execPath, ['-e', '0']);
    const deadPid = dead.pid!;
    await new Promise((r) => dead.once('exit', r));
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${deadPid}\n`);
    const srv = await startEmbeddedPostgresProcess({ dataDir: dir });
    try {
      expect(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8').split('\n')[0]).toBe(String(srv.child.pid));
    } finally {
      expect(await srv.stop()).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('disconnects a client idle inside a transaction and rolls it back, unblocking the others', async () => {
    const srv = await startEmbeddedPostgresProcess({ idleInTransactionMs: 500 });
    const idle = new Client({ connectionString: srv.url });
    const other = new Client({ connectionString: srv.url });
    try {
      await Promise.all([idle.connect(), other.connect()]);
      await other.query('CREATE TABLE t (x int)');
      const idleError = new Promise<Error>((resolve) => idle.once('error', resolve));
      await idle.query('BEGIN');
      await idle.query('INSERT INTO t VALUES (1)');
      const t0 = Date.now();
      // blocks behind the idle transaction until the guard ends it
      const res = await other.query<{ n: string }>('SELECT count(*) AS n FROM t');
      const waited = Date.now() - t0;
      expect(res.rows[0]?.n).toBe('0');
      expect(waited).toBeGreaterThanOrEqual(400);
      expect(waited).toBeLessThan(5_000);
      expect((await idleError).message).toMatch(/Connection terminated|ECONNRESET|closed/i);
    } finally {
      await other.end().catch(() => undefined);
      await idle.end().catch(() => undefined);
      await srv.stop();
    }
  });
});
