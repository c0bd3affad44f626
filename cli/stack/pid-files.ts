import fs from 'node:fs';
import path from 'node:path';
import { EmethError } from '../../lib/errors';

/**
 * Pid files of the stack's parts, under `<EMETH_HOME>/pids/<part>.pid`.
 *
 * A part runs in its own process group (so a terminal's Ctrl-C reaches only the supervisor); if the
 * supervisor dies without stopping it (kill -9, a crash, a forced exit that failed), the part keeps
 * running and holds its port. The next `emeth up` reads these files and ends what an earlier run left.
 * Each file carries the process's start time (from /proc) and command line, so a pid the kernel has
 * since handed to an unrelated process is never signalled.
 */
export interface PidRecord {
  part: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot; with the pid it names one process for good. */
  startTime: string;
  cmdline: string;
  /** The signal that stops the part cleanly (anvil writes its state on SIGINT). */
  stopSignal: NodeJS.Signals;
  startedAt: string;
}

/** The supervisor's own record (`emeth up` / `emeth demo`), next to its parts'. */
export const SUPERVISOR = 'emeth';

export function pidDir(home: string): string {
  return path.join(home, 'pids');
}

export function pidFilePath(home: string, part: string): string {
  return path.join(pidDir(home), `${part}.pid`);
}

interface ProcStat {
  state: string;
  pgid: number;
  startTime: string;
}

/** What /proc says about `pid`, or undefined when no such process exists (or it is a zombie). */
export function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after its last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0] ?? '';
  // A zombie holds no port and no memory: it is gone, only not yet reaped. But a multi-threaded
  // process's leader turns zombie before its other threads have exited and closed the files they
  // share (the listening sockets): it is gone only once every thread is.
  if ((state === 'Z' || state === 'X') && !threadsAlive(pid)) return undefined;
  return { state, pgid: Number(rest[2]), startTime: rest[19] ?? '' };
}

function threadsAlive(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tasks.some((tid) => {
    try {
      const st = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const s = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
      return s !== 'Z' && s !== 'X';
    } catch {
      return false;
    }
  });
}

function cmdlineOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

export function writePidFile(
  home: string,
  part: string,
  pid: number,
  stopSignal: NodeJS.Signals = 'SIGTERM',
): void {
  const record: PidRecord = {
    part,
    pid,
    startTime: procStat(pid)?.startTime ?? '',
    cmdline: cmdlineOf(pid),
    stopSignal,
    startedAt: new Date().toISOString(),
  };
  fs.mkdirSync(pidDir(home), { recursive: true });
  const file = pidFilePath(home, part);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(record) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

/** Removes the part's pid file if it still names `pid` (a restarted part may have written a newer one). */
export function removePidFile(home: string, part: string, pid?: number): void {
  const file = pidFilePath(home, part);
  try {
    if (pid !== undefined && readPidFile(file)?.pid !== pid) return;
    fs.rmSync(file, { force: true });
  } catch {
    /* already gone */
  }
}

function readPidFile(file: string): PidRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as PidRecord;
    return Number.isInteger(r.pid) && r.pid > 1 ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Every pid file under `home`, valid or not. */
export function readPidFiles(home: string): { file: string; record: PidRecord | undefined }[] {
  let names: string[];
  try {
    names = fs.readdirSync(pidDir(home)).filter((n) => n.endsWith('.pid'));
  } catch {
    return [];
  }
  return names.sort().map((n) => {
    const file = path.join(pidDir(home), n);
    return { file, record: readPidFile(file) };
  });
}

/** True when the process the record names is still the one running under its pid. */
export function isRecordAlive(r: PidRecord): boolean {
  const now = procStat(r.pid);
  if (!now) return false;
  if (r.startTime && now.startTime !== r.startTime) return false; // the pid was reused
  if (!r.startTime && r.cmdline && cmdlineOf(r.pid) !== r.cmdline) return false;
  return true;
}

/** Records in `home` whose process is still running (stale files are left for the caller). */
export function liveRecords(home: string): PidRecord[] {
  return readPidFiles(home)
    .map((f) => f.record)
    .filter((r): r is PidRecord => r !== undefined && isRecordAlive(r));
}

export class LeftoverPartsError extends EmethError {
  constructor(message: string) {
    super('LEFTOVER_PARTS', message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Signals the part's process group when it leads one (as every part does), else the process alone. */
function signalPart(r: PidRecord, signal: NodeJS.Signals): void {
  const leadsGroup = procStat(r.pid)?.pgid === r.pid;
  try {
    process.kill(leadsGroup ? -r.pid : r.pid, signal);
  } catch {
    /* gone in the meantime */
  }
}

async function waitGone(records: PidRecord[], ms: number): Promise<PidRecord[]> {
  const deadline = Date.now() + ms;
  let alive = records.filter(isRecordAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(100);
    alive = alive.filter(isRecordAlive);
  }
  return alive;
}

const describe = (rs: PidRecord[]) => rs.map((r) => `${r.part} (pid ${r.pid})`).join(', ');

/**
 * Before `emeth up` starts anything: refuses when another supervisor still runs on this home, ends
 * the parts an earlier run left behind (their clean stop signal first, SIGKILL after `graceMs`),
 * logging each with its pid, and removes stale pid files. Throws naming every part it could not end.
 */
export async function endLeftovers(
  home: string,
  log: (message: string) => void,
  graceMs = 10_000,
): Promise<PidRecord[]> {
  const files = readPidFiles(home);
  const live: PidRecord[] = [];
  for (const { file, record } of files) {
    if (record && record.pid !== process.pid && isRecordAlive(record)) live.push(record);
    else fs.rmSync(file, { force: true });
  }
  const supervisor = live.find((r) => r.part === SUPERVISOR);
  if (supervisor) {
    throw new LeftoverPartsError(
      `another emeth (pid ${supervisor.pid}, started ${supervisor.startedAt}) is running on ${home}; stop it (Ctrl-C in its terminal, or kill ${supervisor.pid}) or set EMETH_HOME to another directory`,
    );
  }
  if (live.length === 0) return [];
  for (const r of live) {
    log(`ending ${r.part} (pid ${r.pid}), left running by an earlier emeth run`);
    signalPart(r, r.stopSignal);
  }
  let alive = await waitGone(live, graceMs);
  for (const r of alive) signalPart(r, 'SIGKILL');
  alive = await waitGone(alive, 5_000);
  if (alive.length > 0) {
    throw new LeftoverPartsError(
      `parts of an earlier emeth run are still running and could not be ended: ${describe(alive)}; end them (kill -9 ${alive.map((r) => r.pid).join(' ')}) and run emeth up again`,
    );
  }
  for (const r of live) removePidFile(home, r.part, r.pid);
  return live;
}
