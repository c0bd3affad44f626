/**
 * Gas of EmethCore's hot paths on a fresh anvil: ticket redemption (redeem, redeemMany with 1, 10
 * and 100 tickets, each ticket of its own Job, and 100 tickets of one Job; every Job committed
 * first, as the L2 does) and the L1 cycle request → registerSubJobs → process → submit → verify
 * (through EmethCore's fallback into EmethL1). Tickets have the L2's shape (lib/tickets
 * `subJobTickets`): a verified SubJob earns a node ticket (its fuel) and a verifier ticket (its fee),
 * each redeemed by its payee; the node's rows redeem node tickets, the verifier's rows verifier ones.
 * Run: `npx tsx bench/gas.ts` (compiles nothing: run `npm run contracts:compile` first).
 * Prints a markdown table. Figures are receipt gasUsed, so they include the 21,000 base cost and
 * calldata; recipients already hold tokens (a first-ever transfer to an empty account costs ~17k more).
 */
import { HDNodeWallet, JsonRpcProvider, MaxUint256, id, type ContractTransactionResponse } from 'ethers';
import { startAnvil } from '../cli/stack/anvil';
import { deployContracts } from '../contracts/deploy';
import { OPTIMIZER_RUNS } from '../contracts/compile';
import { SerialSigner } from '../contracts/serial-signer';
import { emethCore, emethToken } from '../contracts/typed';
import { EMETH, GHOLON } from '../lib/fees';
import { TicketTree, emethDomain, signBatch, subJobTickets, type Ticket } from '../lib/tickets';
import { signCommit } from '../activities/chain/commitments';

const MNEMONIC = 'test test test test test test test test test test test junk';
/** Livepeer's probabilistic-micropayment ticket redemption, as commonly quoted (~250k gas each). */
const LIVEPEER_PER_TICKET = 250_000;

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<bigint> {
  const receipt = await (await tx).wait();
  if (!receipt || receipt.status !== 1) throw new Error('benchmark transaction reverted');
  return receipt.gasUsed;
}

async function main(): Promise<void> {
  const anvil = await startAnvil();
  // No response cache: with it, a receipt wait can miss its block and hang (seen under load).
  const provider = new JsonRpcProvider(anvil.rpcUrl, undefined, { batchStallTime: 0, cacheTimeout: -1 });
  provider.pollingInterval = 50; // receipts of a thousand setup transactions; ethers' default is 4 s
  try {
    const wallets = [0, 1, 2, 3, 4].map((i) =>
      HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).connect(provider),
    );
    const [admin, requester, node, verifier, server] = wallets.map((w) => new SerialSigner(w)) as [
      SerialSigner,
      SerialSigner,
      SerialSigner,
      SerialSigner,
      SerialSigner,
    ];
    const deployment = await deployContracts(admin, {
      verifiers: [wallets[3]!.address],
      l1Servers: [wallets[4]!.address],
    });
    const token = emethToken(deployment.token, admin);
    for (const w of [requester, node, verifier]) {
      await gasOf(token.mint(await w.getAddress(), 1_000_000n * EMETH));
      await gasOf(emethToken(deployment.token, w).approve(deployment.core, MaxUint256));
    }
    const core = (s: SerialSigner) => emethCore(deployment.core, s);
    await gasOf(core(requester).deposit(100_000n * EMETH));
    await gasOf(core(node).registerNode(1_000n * EMETH, id('key'), 1));

    const domain = emethDomain(deployment.chainId, deployment.core);
    let batchId = 0n;
    let seq = 0;
    /**
     * The `role` tickets of `n` verified SubJobs, each of its own Job (the worst case: one commitment
     * per ticket) or all of one Job; `nodes` distinct nodes ran them (the node's own rows: 1).
     */
    const tickets = (n: number, oneJob = false, role: 'node' | 'verifier' = 'node', nodes = 1): Ticket[] =>
      Array.from({ length: n }, (_, i) => {
        const sub = seq++;
        return subJobTickets({
          jobId: oneJob ? id(`job-of-${n}-${batchId}`) : id(`job-${sub}`),
          subJobId: id(`sub-${sub}`),
          node:
            nodes === 1
              ? wallets[2]!.address
              : `0x${((i % nodes) + 1).toString(16).padStart(4, '0').repeat(10)}`,
          requester: wallets[1]!.address,
          amount: 12_000_000n * GHOLON,
          verifier: wallets[3]!.address,
          verifierFee: 720_000n * GHOLON,
        }).find((t) => t.role === role)!.ticket;
      });
    /** The L2 commits what each Job's tickets spend (the requester signs; admin holds L2_SERVER_ROLE). */
    const commitJobs = async (ts: Ticket[]) => {
      const perJob = new Map<string, bigint>();
      for (const t of ts) perJob.set(t.jobId, (perJob.get(t.jobId) ?? 0n) + t.amount + t.verifierFee);
      const deadline = BigInt((await provider.getBlock('latest'))!.timestamp + 86_400);
      for (const [jobId, amount] of perJob) {
        const c = { requester: wallets[1]!.address, jobId, amount, deadline };
        await gasOf(core(admin).commit(c, await signCommit(wallets[1]!, domain, c)));
      }
    };
    /** Signs a batch of `ts`, committing the Jobs of the tickets to be redeemed (`redeemed`, default all). */
    const signed = async (ts: Ticket[], redeemed?: number[]) => {
      await commitJobs(redeemed ? redeemed.map((i) => ts[i]!) : ts);
      const tree = new TicketTree(ts);
      const batch = tree.batch(++batchId);
      return {
        tree,
        args: batch,
        signature: await signBatch(wallets[0]!, domain, batch),
      };
    };

    const rows: { what: string; tickets: number; gas: bigint }[] = [];

    // redeem: the first ticket of a fresh batch (new bitmap word) and a later one (word exists).
    {
      const { tree, args, signature } = await signed(tickets(100), [0, 1]);
      const first = await gasOf(core(node).redeem(args, signature, tree.tickets[0]!, 0, tree.proof(0)));
      const second = await gasOf(core(node).redeem(args, signature, tree.tickets[1]!, 1, tree.proof(1)));
      rows.push({ what: '`redeem`, first ticket of a batch of 100', tickets: 1, gas: first });
      rows.push({ what: '`redeem`, another ticket of the same batch', tickets: 1, gas: second });
    }
    /** One `redeemMany` of a whole batch of `ts`, sent by `by`. */
    const redeemAll = async (ts: Ticket[], by: SerialSigner) => {
      const { tree, args, signature } = await signed(ts);
      const mp = tree.multiProof(tree.tickets.map((_, i) => i));
      return gasOf(core(by).redeemMany(args, signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags));
    };
    for (const n of [1, 10, 100]) {
      const gas = await redeemAll(tickets(n), node);
      rows.push({ what: `\`redeemMany\`, ${n} ticket${n > 1 ? 's' : ''} (whole batch)`, tickets: n, gas });
    }
    // The common shape: a batch holds many SubJobs' tickets of few Jobs (one commitment each).
    const oneJobNode = await redeemAll(tickets(100, true), node);
    rows.push({ what: '`redeemMany`, 100 tickets of one Job (whole batch)', tickets: 100, gas: oneJobNode });
    // The verifier redeems its fee tickets itself: SubJobs of one Job run by 10 nodes, and the worst
    // case, each of its own Job and node.
    const oneJobVerifier = await redeemAll(tickets(100, true, 'verifier', 10), verifier);
    rows.push({
      what: 'verifier: `redeemMany`, 100 fee tickets of one Job, 10 nodes',
      tickets: 100,
      gas: oneJobVerifier,
    });
    rows.push({
      what: 'verifier: `redeemMany`, 100 fee tickets, each its own Job and node',
      tickets: 100,
      gas: await redeemAll(tickets(100, false, 'verifier', 100), verifier),
    });
    {
      // 100 tickets out of a batch of 1,000: the multiproof carries sibling hashes.
      const chosen = Array.from({ length: 100 }, (_, i) => i * 10);
      const { tree, args, signature } = await signed(tickets(1000), chosen);
      const mp = tree.multiProof(chosen);
      const gas = await gasOf(
        core(node).redeemMany(args, signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
      );
      rows.push({ what: '`redeemMany`, 100 tickets out of a batch of 1,000', tickets: 100, gas });
    }

    // L1 cycle, the paper's example.
    const jobId = id('bench-job');
    const deadline = (await provider.getBlock('latest'))!.timestamp + 86_400;
    const l1: [string, bigint][] = [
      [
        'request',
        await gasOf(core(requester).request(jobId, 1, 120_000n, 120n * GHOLON, deadline, id('data'))),
      ],
      ['registerSubJobs (1 shard)', await gasOf(core(server).registerSubJobs(jobId, [1n]))],
      ['process', await gasOf(core(node).process(jobId, 0))],
      ['submit', await gasOf(core(node).submit(jobId, 0, id('result'), 100_000n))],
      ['verify', await gasOf(core(verifier).verify(jobId, 0))],
    ];

    const fmt = (g: bigint | number): string => Number(g).toLocaleString('en-US');
    const out: string[] = [];
    out.push(`EmethCore gas (solc 0.8.37, viaIR, optimizer runs ${OPTIMIZER_RUNS}, evm cancun, anvil)`);
    out.push('');
    out.push('| operation | tickets | gas (tx) | gas per ticket | vs Livepeer ~250,000/ticket |');
    out.push('|---|---:|---:|---:|---:|');
    for (const r of rows) {
      const per = Number(r.gas) / r.tickets;
      out.push(
        `| ${r.what} | ${r.tickets} | ${fmt(r.gas)} | ${fmt(Math.round(per))} | ${(LIVEPEER_PER_TICKET / per).toFixed(1)}× less |`,
      );
    }
    out.push('');
    out.push('| L1 cycle step (paper example: 120,000 fuel × 120 Gholon) | gas |');
    out.push('|---|---:|');
    for (const [step, g] of l1) out.push(`| ${step} | ${fmt(g)} |`);
    out.push(`| **total** | **${fmt(l1.reduce((a, [, g]) => a + g, 0n))}** |`);
    console.log(out.join('\n'));
    console.log(
      `\nPer verified SubJob (its node's ticket + its verifier's, batches of 100 of one Job): ${fmt(Math.round(Number(oneJobNode + oneJobVerifier) / 100))} gas.`,
    );
    const at100 = rows.find((r) => r.what.startsWith('`redeemMany`, 100 tickets (whole'))!;
    const goal = Number(at100.gas) / 100 <= 30_000;
    console.log(
      `\nGoal ≤ 30,000 gas/ticket amortized at 100: ${goal ? 'met' : 'NOT met'} (${fmt(Math.round(Number(at100.gas) / 100))}).`,
    );
  } finally {
    provider.destroy();
    await anvil.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
