/**
 * The line a worker process prints once it polls its queue. Supervisors wait for it; it is plain
 * stdout, so it appears whatever EMETH_LOG_LEVEL says.
 */
export const READY_MARKER = 'EMETH-READY';

export function announceReady(what: string): void {
  process.stdout.write(`${READY_MARKER} ${what}\n`);
}
