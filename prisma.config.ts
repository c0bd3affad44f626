// Configuration of the Prisma CLI (`npm run prisma -- ...`, see scripts/prisma.sh).
// engine "js" = the WASM schema engine talking through the driver adapter: no native engine
// binaries, which cannot be downloaded on offline machines.
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { createPgAdapterFactory, withMemoryShadow } from './scripts/pg-adapter.cjs';

const DEFAULT_URL = `postgresql://postgres:postgres@127.0.0.1:${process.env.EMETH_PGLITE_PORT || 5433}/postgres`;

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  async adapter() {
    // allowExitOnIdle + a short idle timeout: the CLI exits as soon as it is done instead of
    // waiting for pg's 10 s idle-socket timeout.
    const factory = createPgAdapterFactory(process.env.DATABASE_URL || DEFAULT_URL, {
      allowExitOnIdle: true,
      idleTimeoutMillis: 100,
    });
    // The embedded server module is loaded only when `migrate dev` asks for a shadow on PGlite.
    return withMemoryShadow(factory, async (opts) =>
      (await import('./prisma/embedded/server')).startEmbeddedPostgres(opts),
    );
  },
});
