import type { EmethConfig } from '../lib/config';
import { startStack } from './stack/stack';
import { deployerAddress, describeStack, holdStack } from './up';
import { runWiringCheck } from './wiring';
import { runInferenceDemo } from './inference-demo';
import { runTrainingDemo } from './training-demo';

export interface DemoOptions {
  keep: boolean;
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
}

/** `npm run demo`: the embedded stack, the wiring workflow through it, and where to look. */
export async function demo(config: EmethConfig, opts: DemoOptions): Promise<number> {
  const { out } = opts;
  const stack = await startStack(config, { env: opts.env, log: (m) => out(`emeth: ${m}`) });
  try {
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
    out(
      `\nTemporal UI: ${stack.temporalUiUrl ?? config.temporalUiUrl}  (filter: EmethJobId = "<the Job id above>")`,
    );
  } catch (err) {
    await stack.stop();
    throw err;
  }
  if (opts.keep) {
    out('\n--keep: the stack stays up. Press Ctrl-C to stop.');
    return holdStack(stack, out);
  }
  await stack.stop();
  out('Demo finished; the stack is stopped (run `npm run demo -- --keep` to keep it up).');
  return 0;
}
