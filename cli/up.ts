import { Wallet } from 'ethers';
import type { EmethConfig } from '../lib/config';
import { startStack, type Stack } from './stack/stack';

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
  return rows.map(([k, v]) => `  ${k.padEnd(12)} ${v}`).join('\n');
}

/**
 * Starts the stack and holds it until SIGINT/SIGTERM, then stops every part. Resolves with the
 * process exit code: 0 after a requested stop, 1 when a part crashed.
 */
export async function holdStack(stack: Stack, out: (line: string) => void): Promise<number> {
  let requested = false;
  const signalled = new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      if (requested) {
        out(`${sig} again: forcing exit`);
        process.exit(130);
      }
      requested = true;
      out(`${sig} received: stopping EMETH...`);
      resolve();
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
  const crashedPart = await Promise.race([signalled.then(() => undefined), stack.crashed]);
  if (crashedPart && !requested)
    out(`${crashedPart} exited unexpectedly (see ${stack.logDir}/${crashedPart}.log); stopping the rest`);
  await stack.stop();
  out('EMETH stopped.');
  return crashedPart && !requested ? 1 : 0;
}

export async function up(config: EmethConfig, opts: UpOptions): Promise<number> {
  const stack = await startStack(config, { env: opts.env, log: (m) => opts.out(`emeth: ${m}`) });
  opts.out(
    `\nEMETH is up${stack.deploymentReused ? ' (state resumed from ' + config.home + ')' : ''}:\n${describeStack(stack)}\n\nPress Ctrl-C to stop.`,
  );
  return holdStack(stack, opts.out);
}

export function deployerAddress(config: EmethConfig): string {
  return new Wallet(config.chain.deployerKey).address;
}
