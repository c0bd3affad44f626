import type { EmethConfig } from '../lib/config';
import { installStopSignals, type StopSignals } from './stack/stop-signals';
import { deployerAddress, describeStack, holdStack, startStackInterruptibly } from './up';
import { runWiringCheck } from './wiring';
import { runInferenceDemo } from './inference-demo';
import { runTrainingDemo } from './training-demo';
import { runMiningDemo } from './mining-demo';
import { runL1Demo } from './l1-demo';
import { runDeploymentDemo } from './deployment-demo';

export interface DemoOptions {
  keep: boolean;
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
}

/** `npm run demo`: the embedded stack, the wiring workflow through it, and where to look. */
export async function demo(config: EmethConfig, opts: DemoOptions): Promise<number> {
  const signals = installStopSignals(opts.out);
  try {
    return await runDemo(config, opts, signals);
  } finally {
    signals.dispose();
  }
}

async function runDemo(config: EmethConfig, opts: DemoOptions, signals: StopSignals): Promise<number> {
  const { out } = opts;
  const stack = await startStackInterruptibly(config, opts.env, out, signals);
  if (!stack) return 130;
  const steps = async () => {
    out(`\nEMETH is up:\n${describeStack(stack)}\n`);
    out('Running the wiring workflow (Temporal -> L2 worker -> database + chain)...');
    const run = await runWiringCheck(config, deployerAddress(config));
    const r = run.result;
    out(`  workflow     ${run.workflowId}`);
    out(`  chain        id ${r.chainId}, block ${r.blockNumber}, EmethToken supply ${r.tokenSupply} holon`);
    out(`  database     WiringCheck row ${r.checkId} recorded at ${r.recordedAt}`);
    out(`  Temporal UI  ${run.uiLink}`);

    await runInferenceDemo(stack, config, out);
    await runTrainingDemo(stack, config, out);
    // The L1 Job (paper 7-2): after the L2 Jobs, before the mining epoch that pays their nodes.
    await runL1Demo(stack, config, out);
    await runDeploymentDemo(stack, config, out);
    await runMiningDemo(stack, config, out);
    out(
      `\nTemporal UI: ${stack.temporalUiUrl ?? config.temporalUiUrl}  (filter: EmethJobId = "<the Job id above>")`,
    );
    return 'done' as const;
  };
  try {
    // A Ctrl-C during the demo stops the stack at once; the demo's own calls then fail, unheard.
    const ended = await Promise.race([steps(), signals.requested.then(() => 'interrupted' as const)]);
    if (ended === 'interrupted') {
      await stack.stop();
      out('EMETH stopped.');
      return 130;
    }
  } catch (err) {
    await stack.stop();
    throw err;
  }
  if (opts.keep) {
    out('\n--keep: the stack stays up. Press Ctrl-C to stop.');
    return holdStack(stack, out, signals);
  }
  await stack.stop();
  out('Demo finished; the stack is stopped (run `npm run demo -- --keep` to keep it up).');
  return 0;
}
