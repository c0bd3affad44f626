import fs from 'node:fs';
import { JsonRpcProvider, Wallet } from 'ethers';
import type { EmethConfig } from '../lib/config';
import { DEV_ROLES, devKey } from '../lib/dev-accounts';
import { EmethError } from '../lib/errors';
import { GHOLON, formatEmeth } from '../lib/fees';
import { decodeMatrix } from '../lib/matrix';
import { meterFuel } from '../lib/programs';
import { emethCore, emethToken } from '../contracts/typed';
import { generateExamples } from '../examples/generate';
import { modelCostOf } from '../activities/programs';
import type { Stack } from './stack/stack';
import { GatewayClient } from './gateway-client';
import { followJob, type JobView } from './job-status';

/** The inference demo's example model and dataset (the same files, so the same blobs). */
const ROWS = 10_000;
const NUM_PARALLEL = 3;
/** The demo's nodes by address, for the summary. */
const NODE_NAMES = new Map(
  [DEV_ROLES.node1, DEV_ROLES.node2, DEV_ROLES.node3, DEV_ROLES.node4].map(
    (role, i) => [new Wallet(devKey(role)).address.toLowerCase(), `node-${i + 1}`] as const,
  ),
);
/** EmethBase.JobStatus.Finished. */
const JOB_FINISHED = 3n;

type ChainStep = NonNullable<JobView['chainSteps']>[number];

/**
 * One L1 Job in the demo (paper 7-2): the requester signs EmethL1's Request, the L2 relays it
 * (the escrow leaves the requester's deposit) and registers the SubJobs, each node processes and
 * submits with its own key, the verifier verifies — every step a transaction on EmethCore, printed
 * as it lands. Then the money as the chain holds it: the deposit drawn by exactly the escrow, and
 * at each verify the node paid fuelUsed × fuelPrice, the requester refunded its unused fuel, the
 * verifier its fee; nothing left in escrow.
 */
export async function runL1Demo(
  stack: Stack,
  config: EmethConfig,
  out: (line: string) => void,
): Promise<void> {
  out('\n── An L1 Job (paper 7-2): every step a transaction on EmethCore, by the party the paper names ──');
  const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0 });
  try {
    const requester = new Wallet(devKey(DEV_ROLES.requester));
    const address = requester.address.toLowerCase();
    const core = emethCore(stack.deployment.core, provider);
    const token = emethToken(stack.deployment.token, provider);
    const client = new GatewayClient(config.gateway.url, requester, stack.deployment.chainId);

    const examples = await generateExamples(undefined, { rows: ROWS });
    const modelBytes = new Uint8Array(fs.readFileSync(examples.model.path));
    const datasetBytes = new Uint8Array(fs.readFileSync(examples.rows.path));
    const model = await client.putBlob(modelBytes);
    const dataset = await client.putBlob(datasetBytes);
    const fuelPrice = 120n * GHOLON;
    const cost = await modelCostOf(modelBytes, {
      rows: { dtype: 'float32', inner: [decodeMatrix(datasetBytes).cols] },
    });
    const required = BigInt(meterFuel(ROWS, cost, 10n ** 30n).required);
    const fuelLimit = (required * 3n) / 2n + BigInt(NUM_PARALLEL);
    out(
      `  the inference Job's model and dataset (blob ${dataset.id.slice(0, 18)}…, ${ROWS} rows) in ${NUM_PARALLEL} SubJobs; fuel limit ${fuelLimit} at ${fuelPrice / GHOLON} Gholon`,
    );
    // One round, one node per SubJob, the signed Request instead of a Commit: what layer 'l1' takes.
    const job = await client.submitJob<JobView>(
      {
        programId: 1,
        dataset: dataset.id,
        model: model.id,
        numParallel: NUM_PARALLEL,
        numEpoch: 1,
        fuelLimit: fuelLimit.toString(),
        fuelPrice: fuelPrice.toString(),
        deadlineSeconds: 600,
        layer: 'l1',
      },
      stack.deployment.core,
    );
    if (job.layer !== 'l1')
      throw fail(`the gateway took Job ${job.id} on layer ${job.layer ?? 'l2'}, not l1`);
    out(`  Job ${job.id} (layer l1), its Request signed by the requester ${address}`);
    out(`  Temporal UI: ${job.temporalUiUrl}`);

    const final = await followJob(client, job.id, out);
    if (final.status !== 'completed')
      throw fail(
        `the L1 Job ${job.id} ended ${final.status}; its chain steps are in the lines above, the workflow in ${stack.logDir}/l2.log`,
      );
    const steps = final.chainSteps ?? [];
    const find = (event: string) => steps.filter((s) => s.event === event);
    const escrowed = find('DepositEscrowed')[0];
    const verified = find('SubJobVerified');
    if (!escrowed || find('JobFinished').length !== 1 || verified.length !== final.subJobs.length)
      throw fail(
        `the L1 Job ${job.id} completed but its view lacks chain steps (${steps.map((s) => s.event).join(', ') || 'none'})`,
      );

    // Read at one block and the one before: anvil mines one transaction a block, so the change is that tx's.
    const balanceChange = async (who: string, step: ChainStep) =>
      (await token.balanceOf(who, { blockTag: step.blockNumber })) -
      (await token.balanceOf(who, { blockTag: step.blockNumber - 1 }));
    const onChain = await core.getJob(job.id);
    const escrow = onChain.fuelLimit * onChain.fuelPrice + onChain.verifierFee;
    const depositBefore = (await core.getDeposit(address, { blockTag: escrowed.blockNumber - 1 })).balance;
    const depositAfter = (await core.getDeposit(address, { blockTag: escrowed.blockNumber })).balance;

    out('\n  What the chain paid (EMETH), at each SubJobVerified transaction:');
    const rows: string[][] = [
      ['SubJob', 'node', 'fuel used', 'node payout', 'verifier fee', 'requester refund'],
    ];
    const payouts = new Map<string, bigint>();
    let verifier = '';
    let fees = 0n;
    let refunds = 0n;
    const byIndex = [...verified].sort((a, b) => a.subJobIndex! - b.subJobIndex!);
    for (const step of byIndex) {
      const sub = await core.getSubJob(job.id, step.subJobIndex!);
      const node = sub.node.toLowerCase();
      const from = (await provider.getTransaction(step.txHash))!.from.toLowerCase();
      const payout = sub.fuelUsed * onChain.fuelPrice;
      const refund = (sub.fuelLimit - sub.fuelUsed) * onChain.fuelPrice;
      const moved = {
        node: await balanceChange(node, step),
        verifier: await balanceChange(from, step),
        requester: await balanceChange(address, step),
      };
      if (moved.node !== payout || moved.verifier !== sub.verifierFee || moved.requester !== refund)
        throw fail(
          `SubJob ${step.subJobIndex}'s verify (tx ${step.txHash}) moved node ${formatEmeth(moved.node)}, verifier ${formatEmeth(moved.verifier)}, requester ${formatEmeth(moved.requester)} EMETH, not the chain's ${formatEmeth(payout)}, ${formatEmeth(sub.verifierFee)}, ${formatEmeth(refund)}`,
        );
      payouts.set(node, (payouts.get(node) ?? 0n) + payout);
      verifier = from;
      fees += sub.verifierFee;
      refunds += refund;
      rows.push([
        String(step.subJobIndex),
        nameOf(node),
        String(sub.fuelUsed),
        formatEmeth(payout),
        formatEmeth(sub.verifierFee),
        formatEmeth(refund),
      ]);
    }
    printTable(rows, out);

    out('');
    const paid = [...payouts.values()].reduce((a, b) => a + b, 0n);
    const line = (name: string, value: string) => out(`  ${name.padEnd(26)} ${value}`);
    line(
      'requester deposit',
      `${formatEmeth(depositBefore)} → ${formatEmeth(depositAfter)}  (−${formatEmeth(depositBefore - depositAfter)}, the escrow, tx ${escrowed.txHash.slice(0, 18)}…)`,
    );
    const wallet = [
      await token.balanceOf(address, { blockTag: Math.min(...verified.map((s) => s.blockNumber)) - 1 }),
      await token.balanceOf(address, { blockTag: Math.max(...verified.map((s) => s.blockNumber)) }),
    ] as const;
    line(
      'requester wallet refund',
      `+${formatEmeth(refunds)}  (the unused fuel: ${formatEmeth(wallet[0])} → ${formatEmeth(wallet[1])})`,
    );
    for (const [node, amount] of [...payouts].sort((a, b) => nameOf(a[0]).localeCompare(nameOf(b[0]))))
      line(`${nameOf(node)} payout`, `+${formatEmeth(amount)}`);
    line(`verifier ${verifier.slice(0, 10)}… fees`, `+${formatEmeth(fees)}`);
    line(
      'left in escrow',
      `${formatEmeth(onChain.escrow)}  (EmethCore getJob: ${onChain.verifiedCount} of ${onChain.subJobCount} SubJobs verified, status ${onChain.status === JOB_FINISHED ? 'Finished' : onChain.status})`,
    );

    if (depositBefore - depositAfter !== escrow)
      throw fail(
        `the requester's deposit moved by ${formatEmeth(depositBefore - depositAfter)} EMETH at the escrow, not by the Job's escrow of ${formatEmeth(escrow)}`,
      );
    if (wallet[1] - wallet[0] !== refunds)
      throw fail(
        `the requester's wallet moved by ${formatEmeth(wallet[1] - wallet[0])} EMETH over the verifies, not by their refunds of ${formatEmeth(refunds)}`,
      );
    if (onChain.status !== JOB_FINISHED || onChain.escrow !== 0n)
      throw fail(
        `EmethCore holds the L1 Job ${job.id} with status ${onChain.status} and ${formatEmeth(onChain.escrow)} EMETH in escrow, not finished and empty`,
      );
    if (paid + fees + refunds !== escrow || BigInt(final.fees.charged) !== paid + fees)
      throw fail(
        `the L1 Job's payouts (${formatEmeth(paid)}), fees (${formatEmeth(fees)}) and refunds (${formatEmeth(refunds)}) do not add up to its escrow (${formatEmeth(escrow)}) and charge (${formatEmeth(BigInt(final.fees.charged))})`,
      );
    out(
      `  payouts + fees + refund = the escrow, to the holon; the gateway's charge ${formatEmeth(BigInt(final.fees.charged))} is what the chain paid. No tickets: the chain paid as it verified.`,
    );
  } finally {
    provider.destroy();
  }
}

const nameOf = (address: string): string => NODE_NAMES.get(address) ?? address;

function fail(message: string): EmethError {
  return new EmethError('L1_DEMO', message);
}

function printTable(rows: string[][], out: (line: string) => void): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(`  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd());
}
