// Runs the embedded PostgreSQL as its own process, for `prisma migrate dev` on the embedded
// database and for debugging with psql:
//   tsx prisma/embedded/main.ts --data .emeth/pgdata --port 5433
// (The L2 server hosts the same server in-process; stop it first, the data dir is locked.)
import { startEmbeddedPostgres } from './server';

function parseArgs(argv: string[]): { dataDir?: string; port: number; host?: string } {
  const out: { dataDir?: string; port: number; host?: string } = { port: 5433 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--memory') continue;
    if (value === undefined || !['--data', '--port', '--host'].includes(arg ?? '')) {
      throw new Error(
        `unknown or incomplete argument "${arg}". Usage: tsx prisma/embedded/main.ts [--data <dir> | --memory] [--port <p>] [--host <h>]`,
      );
    }
    i++;
    if (arg === '--data') out.dataDir = value;
    else if (arg === '--host') out.host = value;
    else {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`--port must be 0..65535, got "${value}"`);
      out.port = port;
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const srv = await startEmbeddedPostgres(args);
  process.stdout.write(
    `embedded PostgreSQL (PGlite) on ${srv.host}:${srv.port}, data in ${args.dataDir ?? 'memory'} (${Date.now() - t0} ms)\n` +
      `DATABASE_URL=${srv.url}\n`,
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping the embedded PostgreSQL...\n`);
    srv.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stopping failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
