// Each test suite gets its OWN fresh, migrated database, so suites can run in parallel and never
// see each other's rows. Where the database comes from, in order:
//  1. TEST_DATABASE_URL or DATABASE_URL pointing at a real PostgreSQL: a new database on it;
//  2. a PostgreSQL answering on 127.0.0.1:5432 as postgres/postgres: a new database on it;
//  3. otherwise an in-memory embedded PGlite server on an ephemeral port.
// On real PostgreSQL the migrations are applied once per run into a template database (through the
// real `prisma migrate deploy`), and every suite clones it: CREATE DATABASE ... TEMPLATE takes
// ~0.1-0.3 s where a deploy takes ~1.5 s.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { createPrismaClient, type PrismaClient } from '../../prisma/client';
import { migrateDeploy } from '../../prisma/migrate';
import { spawn, type ChildProcess } from 'node:child_process';

export interface TestDatabase {
  url: string;
  prisma: PrismaClient;
  /** 'postgres' (a real server) or 'pglite' (the embedded one). */
  kind: 'postgres' | 'pglite';
  drop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '..', '..');
const LOCAL_PG = 'postgresql://postgres:postgres@127.0.0.1:5432/postgres';
const MIGRATIONS_DIR = path.join(ROOT, 'prisma', 'migrations');

export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = await findRealPostgres();
  return admin ? createOnPostgres(admin) : createOnEmbedded();
}

/** The admin URL of a real PostgreSQL to create databases on, or undefined to use the embedded one. */
async function findRealPostgres(): Promise<string | undefined> {
  const configured = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (configured) {
    const version = await serverVersion(configured, 10_000).catch((err: Error) => {
      throw new Error(
        `TEST_DATABASE_URL/DATABASE_URL is set but its server does not answer: ${err.message}. Start it or unset the variable.`,
      );
    });
    // The embedded server ignores database names: databases "created" on it would all be one.
    return version.includes('PGlite') ? undefined : configured;
  }
  const version = await serverVersion(LOCAL_PG, 1_000).catch(() => undefined);
  return version && !version.includes('PGlite') ? LOCAL_PG : undefined;
}

async function serverVersion(url: string, timeoutMs: number): Promise<string> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  await client.connect();
  try {
    const res = await client.query<{ v: string }>('SELECT version() AS v');
    return res.rows[0]?.v ?? '';
  } finally {
    await client.end();
  }
}

async function createOnPostgres(adminUrl: string): Promise<TestDatabase> {
  const template = await ensureTemplate(adminUrl);
  const name = `emeth_test_${crypto.randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = withDatabase(adminUrl, name);
  const prisma = createPrismaClient(url);
  return {
    url,
    prisma,
    kind: 'postgres',
    async drop() {
      await prisma.$disconnect();
      await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/**
 * A migrated template database named after the migrations' content hash. Built under a
 * temporary name and renamed when complete, so a clone never sees a half-migrated template;
 * an advisory lock keeps parallel jest workers from building it twice.
 */
async function ensureTemplate(adminUrl: string): Promise<string> {
  const name = `emeth_tpl_${migrationsHash().slice(0, 16)}`;
  const exists = async (c: Client): Promise<boolean> =>
    (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  return withAdmin(adminUrl, async (c) => {
    if (await exists(c)) return name;
    await c.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    try {
      if (await exists(c)) return name;
      const building = `${name}_build_${process.pid}`;
      await c.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
      await c.query(`CREATE DATABASE "${building}"`);
      await migrateDeploy(withDatabase(adminUrl, building));
      await c.query(`ALTER DATABASE "${building}" RENAME TO "${name}"`);
      // Templates of older migration sets are of no use any more.
      const old = await c.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'emeth\\_tpl\\_%' AND datname <> $1 AND datname NOT LIKE '%\\_build\\_%'",
        [name],
      );
      for (const r of old.rows)
        await c.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`).catch(() => undefined);
      return name;
    } finally {
      await c.query('SELECT pg_advisory_unlock(hashtext($1))', [name]);
    }
  });
}

function migrationsHash(): string {
  const h = crypto.createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of fs
      .readdirSync(dir, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(path.relative(MIGRATIONS_DIR, p)).update(fs.readFileSync(p));
    }
  };
  walk(MIGRATIONS_DIR);
  return h.digest('hex');
}

async function createOnEmbedded(): Promise<TestDatabase> {
  const server = await startEmbeddedPostgresProcess({});
  try {
    await migrateDeploy(server.url);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const prisma = createPrismaClient(server.url);
  return {
    url: server.url,
    prisma,
    kind: 'pglite',
    async drop() {
      await prisma.$disconnect();
      await server.stop();
    },
  };
}

export interface EmbeddedPostgresProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** SIGTERM (a clean stop: data flushed, lock released); resolves with the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * Runs `prisma/embedded/main.ts` as its own process on an ephemeral port (in memory unless
 * `dataDir` is given). With its stdin as a lifeline it also exits when this process dies.
 */
export async function startEmbeddedPostgresProcess(opts: {
  dataDir?: string;
  idleInTransactionMs?: number;
}): Promise<EmbeddedPostgresProcess> {
  const args = [opts.dataDir ? '--data' : '--memory', ...(opts.dataDir ? [opts.dataDir] : [])];
  args.push('--port', '0', '--lifeline');
  if (opts.idleInTransactionMs !== undefined) args.push('--idle-ms', String(opts.idleInTransactionMs));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'prisma', 'embedded', 'main.ts'), ...args],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = out.match(/^DATABASE_URL=(\S+)$/m);
      if (m?.[1]) {
        clearInterval(timer);
        resolve(m[1]);
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(
          new Error(`the embedded PostgreSQL process exited (${child.exitCode}) before listening:\n${out}`),
        );
      }
    }, 25);
  });
  return {
    url,
    port: Number(new URL(url).port),
    child,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

async function withAdmin<T>(adminUrl: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
