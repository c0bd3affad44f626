// The one way the application opens the database: Prisma's generated client over
// @prisma/adapter-pg (the WASM query compiler, no native engine), patched as described in
// scripts/pg-adapter.cjs. Works the same on real PostgreSQL and on the embedded PGlite server.
import { createPgAdapterFactory } from '../scripts/pg-adapter.cjs';
import { PrismaClient } from './generated/client';

export * from './generated/client';

export interface PrismaClientOptions {
  /** Pool size (pg connections). Default 5: on the embedded server every statement runs one at a time anyway. */
  max?: number;
}

export function createPrismaClient(databaseUrl: string, opts: PrismaClientOptions = {}): PrismaClient {
  const adapter = createPgAdapterFactory(databaseUrl, {
    max: opts.max ?? 5,
    // A dead or frozen server fails the query instead of hanging it forever.
    connectionTimeoutMillis: 10_000,
  });
  return new PrismaClient({
    adapter,
    // On the embedded server all transactions run one after another (one backend session), so
    // waiting for a turn can take a while; activities must still keep transactions short.
    transactionOptions: { maxWait: 10_000, timeout: 15_000 },
  });
}
