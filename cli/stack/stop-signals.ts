import { killAllNow } from './child';

export interface StopSignals {
  /** Aborted on the first SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Resolves with the first signal's name. */
  readonly requested: Promise<string>;
  /** Removes the signal handlers (the command is done). */
  dispose(): void;
}

/**
 * Ctrl-C handling of `emeth up` / `emeth demo`. The first SIGINT/SIGTERM asks for the ordered stop
 * (workers before the servers they use; anvil writes its state). A second one does not wait for
 * it: it SIGKILLs the process group of every part still running, synchronously, then exits 130, so
 * an impatient Ctrl-C never leaves Temporal, anvil or the L2 server holding their ports. Any other
 * exit of the supervisor (an uncaught error, process.exit elsewhere) kills what is left the same way.
 */
export function installStopSignals(out: (line: string) => void): StopSignals {
  const controller = new AbortController();
  let resolveRequested: (sig: string) => void = () => {};
  const requested = new Promise<string>((resolve) => (resolveRequested = resolve));
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      const pids = killAllNow();
      out(
        `${sig} again: forcing exit${pids.length ? ` (killed the process groups of pids ${pids.join(', ')})` : ''}`,
      );
      process.exit(130);
    }
    out(`${sig} received: stopping EMETH... (${sig} again to force)`);
    controller.abort();
    resolveRequested(sig);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  const onExit = () => void killAllNow();
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('exit', onExit);
  return {
    signal: controller.signal,
    requested,
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      // The exit hook stays: whatever ends the supervisor later ends its parts too.
    },
  };
}
