// Runs the embedded PostgreSQL as its own process, for `prisma migrate dev` on the embedded
// database and for debugging with psql:
//   tsx prisma/embedded/main.ts --data .emeth/pgdata --port 5433
// Tests start it with --memory --port 0 --lifeline (PGlite cannot run inside jest's module sandbox).
// (The L2 server hosts the same server in-process; stop it first, the data dir is locked.)
import { startEmbeddedPostgres } from './server';

interface Args {
  dataDir?: string;
  port: number;
  host?: string;
  idleInTransactionMs?: number;
  lifeline: boolean;
}

const USAGE =
  'Usage: tsx prisma/embedded/main.ts [--data <dir> | --memory] [--port <p>] [--host <h>] [--idle-ms <ms>] [--lifeline]';

function parseArgs(argv: string[]): Args {
  const out: Args = { port: 5433, lifeline: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--memory') continue;
    if (arg === '--lifeline') {
      out.lifeline = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${arg} needs a value. ${USAGE}`);
    if (arg === '--data') out.dataDir = value;
    else if (arg === '--host') out.host = value;
    else if (arg === '--port' || arg === '--idle-ms') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0 || (arg === '--port' && n > 65535)) {
        throw new Error(
          `${arg} must be a whole number${arg === '--port' ? ' 0..65535' : ''}, got "${value}"`,
        );
      }
      if (arg === '--port') out.port = n;
      else out.idleInTransactionMs = n;
    } else throw new Error(`unknown argument "${arg}". ${USAGE}`);
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
  // --lifeline: the parent holds our stdin open; when it goes away (even killed), so do we.
  if (args.lifeline) {
    process.stdin.on('end', () => stop('parent gone'));
    process.stdin.on('close', () => stop('parent gone'));
    process.stdin.resume();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
