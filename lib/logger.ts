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
