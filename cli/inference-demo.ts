import fs from 'node:fs';
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import type { EmethConfig } from '../lib/config';
import { DEV_ROLES, devKey } from '../lib/dev-accounts';
import { EMETH, GHOLON, formatEmeth } from '../lib/fees';
import { decodeMatrix, maxAbsDiff } from '../lib/matrix';
import { meterFuel } from '../lib/programs';
import { emethCore, emethToken, type EmethCore } from '../contracts/typed';
import { generateExamples } from '../examples/generate';
import { createOnnxSession, modelCostOf } from '../activities/programs';
import type { Stack } from './stack/stack';
import { GatewayClient } from './gateway-client';
import { followJob, type JobView } from './job-status';

export interface InferenceDemoResult {
  jobId: string;
  status: string;
  maxDiff: number;
}

const NODE_ROLES = [DEV_ROLES.node1, DEV_ROLES.node2, DEV_ROLES.node3] as const;
const NUM_PARALLEL = 6;
const ROWS = 10_000;

/**
 * The main demo (issue: the Job pipeline): a requester pays for an inference Job of 10,000 rows in
 * 6 SubJobs on 3 node workers and a verifier, and every holon is accounted for afterwards.
 */
export async function runInferenceDemo(
  stack: Stack,
  config: EmethConfig,
  out: (line: string) => void,
): Promise<InferenceDemoResult> {
  const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0 });
  try {
    const owner = new NonceManager(new Wallet(config.chain.deployerKey, provider));
    const requester = new NonceManager(new Wallet(devKey(DEV_ROLES.requester), provider));
    const nodes = NODE_ROLES.map((i) => new Wallet(devKey(i), provider));
    const verifier = new Wallet(devKey(DEV_ROLES.verifier), provider);
    const token = emethToken(stack.deployment.token, owner);
    const core = emethCore(stack.deployment.core, provider);
    // Balances are read at one block, so a redemption landing between two reads cannot skew them.
    const balanceOf = (a: string, blockTag?: number) => token.balanceOf(a, { blockTag });
    const depositOf = async (a: string, blockTag?: number) =>
      (await core.getDeposit(a, { blockTag })).balance;
    const supply = (blockTag?: number) => token.totalSupply({ blockTag });
    const balancesAt = async (blockTag: number) => ({
      nodes: await Promise.all(nodes.map((n) => balanceOf(n.address, blockTag))),
      verifier: await balanceOf(verifier.address, blockTag),
      deposit: await depositOf(requesterAddress, blockTag),
      supply: await supply(blockTag),
    });
    const requesterAddress = await requester.getAddress();

    out('\n── Funding: the owner mints EMETH; the requester deposits on EmethCore; nodes stake ──');
    for (const [who, amount] of [
      [requesterAddress, 1_000n * EMETH],
      ...nodes.map((n) => [n.address, 200n * EMETH] as const),
    ] as const) {
      if ((await balanceOf(who)) < amount / 2n) await (await token.mint(who, amount)).wait();
    }
    await (await token.connect(requester).approve(stack.deployment.core, 500n * EMETH)).wait();
    await (await core.connect(requester).deposit(500n * EMETH)).wait();

    out('── Starting 3 node workers and a verifier ──');
    await stack.spawnWorker('verifier', 'verifier', [], verifier.privateKey);
    await Promise.all(
      nodes.map((n, i) =>
        stack.spawnWorker(`node-${i + 1}`, 'node', ['--class', 'cpu', '--stake', '100'], n.privateKey),
      ),
    );
    for (const [i, n] of nodes.entries())
      out(`  node-${i + 1}  ${n.address}  (log ${stack.logDir}/node-${i + 1}.log)`);
    out(`  verifier ${verifier.address}`);

    const before = await balancesAt(await provider.getBlockNumber());

    out('\n── Submitting the Job ──');
    const examples = await generateExamples(undefined, { rows: ROWS });
    const modelBytes = new Uint8Array(fs.readFileSync(examples.model.path));
    const datasetBytes = new Uint8Array(fs.readFileSync(examples.rows.path));
    const client = new GatewayClient(config.gateway.url, requester, stack.deployment.chainId);
    const model = await client.putBlob(modelBytes);
    const dataset = await client.putBlob(datasetBytes);
    // The paper's price, 120 Gholon per fuel; the limit leaves headroom, refunded at settlement.
    const fuelPrice = 120n * GHOLON;
    const required = BigInt(meterFuel(ROWS, await modelCostOf(modelBytes, { rows: { dtype: 'float32', inner: [decodeMatrix(datasetBytes).cols] } }), 10n ** 30n).required);
    const fuelLimit = (required * 3n) / 2n + BigInt(NUM_PARALLEL);
    out(
      `  model ${model.id.slice(0, 18)}… (${model.size} B), dataset ${dataset.id.slice(0, 18)}… (${ROWS} rows, ${dataset.size} B)`,
    );
    out(
      `  fuel: ${required} needed, limit ${fuelLimit} at ${fuelPrice / GHOLON} Gholon = fee limit ${formatEmeth(fuelLimit * fuelPrice)} EMETH`,
    );
    const job = await client.submitJob<JobView>(
      {
        programId: 1,
        dataset: dataset.id,
        model: model.id,
        numParallel: NUM_PARALLEL,
        fuelLimit: fuelLimit.toString(),
        fuelPrice: fuelPrice.toString(),
        deadlineSeconds: 600,
      },
      stack.deployment.core,
    );
    out(`  Job ${job.id}\n  Temporal UI: ${job.temporalUiUrl}`);

    const final = await followJob(client, job.id, out);
    if (final.status !== 'completed') throw new Error(`the demo Job ended ${final.status}`);

    out('\n── Checking the result against a local run of the same model ──');
    const result = decodeMatrix(await client.getBlob(final.result!));
    const session = await createOnnxSession(modelBytes);
    const local = await session.runRows(decodeMatrix(datasetBytes));
    await session.release();
    const diff = maxAbsDiff(result, local);
    out(`  ${result.rows} × ${result.cols} outputs, max |difference| vs local = ${diff}`);
    if (result.rows !== ROWS || diff > 1e-4)
      throw new Error(`the Job's result differs from the local run (max diff ${diff})`);

    out(
      '\n── Tickets: signed in batches by the Signer, each redeemed on EmethCore by the node or verifier it pays ──',
    );
    const payees = [...nodes.map((n, i) => [`node-${i + 1}`, n] as const), ['verifier', verifier] as const];
    const tickets = await waitForRedemptions(config, stack.deployment.chainId, payees, core, job.id, out);
    const after = await balancesAt(await provider.getBlockNumber());

    out('\n── Balances (EMETH) ──');
    const row = (name: string, b: bigint, a: bigint) =>
      out(
        `  ${name.padEnd(22)} ${formatEmeth(b).padStart(14)} → ${formatEmeth(a).padStart(14)}   (${a >= b ? '+' : ''}${formatEmeth(a - b)})`,
      );
    nodes.forEach((n, i) => row(`node-${i + 1}`, before.nodes[i]!, after.nodes[i]!));
    row('verifier', before.verifier, after.verifier);
    row('requester deposit', before.deposit, after.deposit);
    out(
      `  reserved ${formatEmeth(BigInt(final.fees.reserved))}, charged ${formatEmeth(BigInt(final.fees.charged))}, refunded ${formatEmeth(BigInt(final.fees.refunded))}`,
    );
    out(`  burned (penalties)      ${formatEmeth(before.supply - after.supply)}`);
    const paid =
      after.nodes.reduce((a, b, i) => a + b - before.nodes[i]!, 0n) + (after.verifier - before.verifier);
    if (paid !== before.deposit - after.deposit)
      throw new Error(`payments (${paid}) differ from the deposit drawn (${before.deposit - after.deposit})`);
    if (tickets.paid !== BigInt(final.fees.charged))
      throw new Error(`this Job's tickets pay ${tickets.paid}, not its charge (${final.fees.charged})`);
    // On a resumed stack the payees also redeem tickets earlier runs left behind, in the same window.
    const earlier = paid - tickets.paid;
    out(
      `  ${tickets.count} tickets redeemed; they pay exactly the Job's charge, and payments equal the deposit drawn, to the holon.`,
    );
    if (earlier !== 0n)
      out(`  (the window also saw ${formatEmeth(earlier)} EMETH of tickets from earlier runs redeemed)`);
    out(`\nTemporal UI for this Job: ${final.temporalUiUrl}`);
    return { jobId: job.id, status: final.status, maxDiff: diff };
  } finally {
    provider.destroy();
  }
}

/**
 * Waits until every ticket of the Job is redeemed (each payee reads its own: the nodes their fuel,
 * the verifier its fees), lists them, and returns their count and total.
 */
async function waitForRedemptions(
  config: EmethConfig,
  chainId: number,
  payees: readonly (readonly [name: string, wallet: Wallet])[],
  core: EmethCore,
  jobId: string,
  out: (l: string) => void,
): Promise<{ count: number; paid: bigint }> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    let pending = 0;
    let paid = 0n;
    const lines: string[] = [];
    for (const [name, n] of payees) {
      const { tickets } = await new GatewayClient(config.gateway.url, n, chainId).request<{
        tickets: {
          role: string;
          ticket: { jobId: string; subJobId: string; amount: string; verifierFee: string };
          batch: { batchId: number | string; root: string } | null;
          leafIndex: number | null;
        }[];
      }>('GET', `/v1/nodes/${n.address.toLowerCase()}/tickets`);
      for (const t of tickets.filter((x) => x.ticket.jobId === jobId)) {
        paid += BigInt(t.ticket.amount) + BigInt(t.ticket.verifierFee);
        const redeemed =
          t.batch && t.leafIndex !== null ? await core.isRedeemed(t.batch.root, t.leafIndex) : false;
        if (!redeemed) pending += 1;
        const pays = t.role === 'verifier' ? t.ticket.verifierFee : t.ticket.amount;
        lines.push(
          `  ${name.padEnd(8)}  subJob ${t.ticket.subJobId.slice(0, 10)}…  ${formatEmeth(BigInt(pays)).padStart(10)} EMETH  batch ${t.batch?.batchId ?? '-'}  ${redeemed ? 'redeemed' : 'pending'}`,
        );
      }
    }
    if (pending === 0 && lines.length > 0) {
      lines.forEach((l) => out(l));
      return { count: lines.length, paid };
    }
    if (Date.now() > deadline) throw new Error(`tickets still unredeemed after 120 s (${pending} pending)`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
