import { Wallet } from 'ethers';
import type { EmethConfig } from '../lib/config';
import { startStack, type Stack } from './stack/stack';
import { StartInterruptedError } from './stack/child';
import { installStopSignals, type StopSignals } from './stack/stop-signals';

export interface UpOptions {
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
}

export function describeStack(stack: Stack): string {
  const { config, deployment } = stack;
  const rows: [string, string][] = [
    ['Temporal UI', stack.temporalUiUrl ?? `(external; ${config.temporalUiUrl})`],
    [
      'Temporal',
      `${config.temporal.address}  namespace ${config.temporal.namespace}${config.temporal.embedded ? `  state ${config.temporal.dbFile}` : ''}`,
    ],
    ['Gateway', `${stack.gatewayUrl}  (health: ${stack.gatewayUrl}/healthz)`],
    // Where nodes, verifiers and keyholders connect (EMETH_NODE_ENDPOINT), authenticated by wallet.
    ['Node endpoint', `${config.edge.endpoint}${config.edge.tlsCert ? '  (TLS)' : ''}`],
    [
      'Chain',
      `${config.chain.rpcUrl}  chain id ${deployment.chainId}${config.chain.embedded ? '  (anvil)' : ''}`,
    ],
    ['EmethToken', deployment.token],
    ['EmethCore', deployment.core],
    [
      'Database',
      config.database.embedded
        ? `embedded PostgreSQL (PGlite) in ${config.database.dataDir}`
        : 'PostgreSQL from DATABASE_URL',
    ],
    ['Logs', stack.logDir],
  ];
  return rows.map(([k, v]) => `  ${k.padEnd(13)}  ${v}`).join('\n');
}

/**
 * Holds the stack until SIGINT/SIGTERM (see `installStopSignals`: a second one forces the exit and
 * still kills every part), then stops every part. Resolves with the process exit code: 0 after a
 * requested stop, 1 when a part crashed.
 */
export async function holdStack(
  stack: Stack,
  out: (line: string) => void,
  signals: StopSignals,
): Promise<number> {
  const crashedPart = await Promise.race([signals.requested.then(() => undefined), stack.crashed]);
  const requested = signals.signal.aborted;
  if (crashedPart && !requested)
    out(`${crashedPart} exited unexpectedly (see ${stack.logDir}/${crashedPart}.log); stopping the rest`);
  await stack.stop();
  out('EMETH stopped.');
  return crashedPart && !requested ? 1 : 0;
}

/**
 * Starts the stack with the stop signals already handled, so a Ctrl-C during the start also stops
 * what was started. Resolves with undefined when the start was interrupted (everything stopped).
 */
export async function startStackInterruptibly(
  config: EmethConfig,
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
  signals: StopSignals,
): Promise<Stack | undefined> {
  try {
    return await startStack(config, { env, log: (m) => out(`emeth: ${m}`), signal: signals.signal });
  } catch (err) {
    if (!(err instanceof StartInterruptedError)) throw err;
    out('EMETH stopped.');
    return undefined;
  }
}

export async function up(config: EmethConfig, opts: UpOptions): Promise<number> {
  const signals = installStopSignals(opts.out);
  try {
    const stack = await startStackInterruptibly(config, opts.env, opts.out, signals);
    if (!stack) return 130;
    opts.out(
      `\nEMETH is up${stack.deploymentReused ? ' (state resumed from ' + config.home + ')' : ''}:\n${describeStack(stack)}\n\nPress Ctrl-C to stop.`,
    );
    return await holdStack(stack, opts.out, signals);
  } finally {
    signals.dispose();
  }
}

export function deployerAddress(config: EmethConfig): string {
  return new Wallet(config.chain.deployerKey).address;
}
