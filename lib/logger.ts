import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';

export type { Logger };

/** Fields every EMETH log line may carry, so one grep follows a Job across processes. */
export interface LogContext {
  component?: string;
  jobId?: string;
  subJobId?: string;
  nodeId?: string;
  workflowId?: string;
}

export function createLogger(level = 'info', context: LogContext = {}): Logger {
  return pino({ level, base: { ...context } });
}

/**
 * Opens (appends to) a log file readable by its owner only: logs name addresses, ids and paths.
 * An existing file is narrowed to 0600 too, so a log created by an older version does not stay
 * world-readable. Returns the file descriptor.
 */
export function openLogFile(file: string): number {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'a', 0o600);
  fs.fchmodSync(fd, 0o600);
  return fd;
}
