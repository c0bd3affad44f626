// An exclusive lock on an embedded PostgreSQL data directory, like PostgreSQL's postmaster.pid.
// PGlite keeps no lock of its own, and two processes opening the same directory silently lose
// each other's writes (shared/notes/embedded-postgres.md §2 #6), so the server takes this one.
import fs from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = 'emeth-postgres.pid';

export interface DataDirLock {
  path: string;
  release(): void;
}

/** Data dirs locked by this process right now (a pid check cannot tell them apart from a stale lock). */
const heldHere = new Set<string>();

export function acquireDataDirLock(dataDir: string): DataDirLock {
  const dir = path.resolve(dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  if (heldHere.has(dir)) throw lockedError(dir, file, process.pid);

  // Two tries: the second one after removing a stale lock. If another process removes it and
  // takes it between our unlink and our create, the `wx` create fails and we report that owner.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n${new Date().toISOString()}\n`, { flag: 'wx' });
      heldHere.add(dir);
      return {
        path: file,
        release() {
          if (!heldHere.delete(dir)) return;
          try {
            if (readPid(file) === process.pid) fs.unlinkSync(file);
          } catch {
            // already gone: nothing to release
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = readPid(file);
    // Our own pid but not held here: left behind by an earlier process that had the same pid.
    if (pid !== undefined && pid !== process.pid && isAlive(pid)) throw lockedError(dir, file, pid);
    if (attempt === 0) {
      try {
        fs.unlinkSync(file); // stale: its process is gone
      } catch {
        // someone else removed it first; the next create decides
      }
    }
  }
  throw lockedError(dir, file, readPid(file));
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

function lockedError(dir: string, file: string, pid: number | undefined): Error {
  const who = pid === process.pid ? 'this process' : pid !== undefined ? `process ${pid}` : 'another process';
  return new Error(
    `the embedded PostgreSQL data directory ${dir} is in use by ${who} (lock file ${file}). ` +
      `Only one process may serve it: stop that process (e.g. \`emeth up\` or \`tsx prisma/embedded/main.ts\`), ` +
      `or connect to it over its port instead of opening the directory again. ` +
      `If no such process is running, delete ${file}.`,
  );
}
