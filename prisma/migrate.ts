// Applies the checked-in migrations (prisma/migrations) with the real `prisma migrate deploy`,
// so the application and `npm run prisma -- migrate deploy` can never disagree on what is applied.
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const TAIL_CHARS = 4000;

/** Runs `prisma migrate deploy` against `databaseUrl`; rejects with the CLI's output tail on failure. */
export function migrateDeploy(databaseUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [path.join(ROOT, 'scripts', 'prisma.sh'), 'migrate', 'deploy'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const keep = (chunk: Buffer): void => {
      out = (out + chunk.toString('utf8')).slice(-TAIL_CHARS);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) =>
      reject(new Error(`could not start the Prisma CLI (sh scripts/prisma.sh): ${err.message}`)),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(
        new Error(
          `prisma migrate deploy ${how} for ${redact(databaseUrl)}. ` +
            `Check that the database is reachable and the migrations in prisma/migrations apply; CLI output:\n${out.trim()}`,
        ),
      );
    });
  });
}

/** The URL without its password, for error messages. */
function redact(databaseUrl: string): string {
  try {
    const u = new URL(databaseUrl);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database URL>';
  }
}
