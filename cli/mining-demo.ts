import { JsonRpcProvider, Wallet } from 'ethers';
import type { EmethConfig } from '../lib/config';
import { DEV_ROLES, devKey } from '../lib/dev-accounts';
import { EmethError } from '../lib/errors';
import { formatEmeth } from '../lib/fees';
import { emethMining, emethToken } from '../contracts/typed';
import type { Stack } from './stack/stack';
import { GatewayClient } from './gateway-client';
import { claimRewards, fetchRewards, openRewards, type MiningRewardView } from './requester/node';

/** The demo's nodes: three from the inference Job, the fourth from the training Job. */
const NODES = [DEV_ROLES.node1, DEV_ROLES.node2, DEV_ROLES.node3, DEV_ROLES.node4] as const;
/** How long the demo waits for the Schedule to post, in epochs. */
const WAIT_EPOCHS = 3;

interface TicketsView {
  tickets: {
    role: string;
    ticket: { jobId: string; node: string; amount: string };
    redeemedAt: string | null;
  }[];
}
interface JobsPage {
  jobs: { id: string; fuelPrice: string; createdAt: string }[];
  nextCursor: string | null;
}

/**
 * The GPU Mining Program in the demo (paper §3-4): once the demo's Jobs have run, waits (at most
 * WAIT_EPOCHS epochs) until the L2's mining Schedule has posted the epochs holding the verified
 * fuel of the requester's Jobs created since `since` (default: when this process started); then
 * each node claims them with its own key, as `emeth node rewards --claim` does, and its balance
 * is checked to move by exactly its reward. A deployment without EmethMining skips it.
 */
export async function runMiningDemo(
  stack: Stack,
  config: EmethConfig,
  out: (line: string) => void,
  since: Date = new Date(performance.timeOrigin),
): Promise<void> {
  out('\n── GPU Mining Program: an epoch posted by the L2, claimed by its nodes ──');
  const address = stack.deployment.mining;
  if (!address) {
    out(
      `  skipped: ${config.chain.deploymentFile} has no EmethMining (it was written before the GPU Mining Program); a fresh EMETH_HOME deploys one`,
    );
    return;
  }
  const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0 });
  try {
    const chainId = stack.deployment.chainId;
    const mining = emethMining(address, provider);
    const token = emethToken(stack.deployment.token, provider);
    const [genesis, epochLength] = (await Promise.all([mining.genesis(), mining.epochLength()])).map(
      Number,
    ) as [number, number];
    const epochAt = (ms: number) => Math.max(0, Math.floor((ms / 1000 - genesis) / epochLength));
    const firstEpoch = epochAt(since.getTime());

    // The fuel price of each of the requester's Jobs since `since`: a ticket pays fuel × price.
    const requester = new GatewayClient(config.gateway.url, new Wallet(devKey(DEV_ROLES.requester)), chainId);
    const price = new Map<string, bigint>();
    for (let cursor: string | undefined; ;) {
      const page = await requester.listJobs<JobsPage>({ limit: 50, cursor });
      const recent = page.jobs.filter((j) => Date.parse(j.createdAt) >= since.getTime());
      for (const j of recent) if (BigInt(j.fuelPrice) > 0n) price.set(j.id, BigInt(j.fuelPrice));
      if (!page.nextCursor || recent.length < page.jobs.length) break;
      cursor = page.nextCursor;
    }

    const nodes = NODES.map((role, i) => {
      const wallet = new Wallet(devKey(role), provider);
      return {
        name: `node-${i + 1}`,
        wallet,
        gateway: new GatewayClient(config.gateway.url, wallet, chainId),
      };
    });
    const progress = async () =>
      Promise.all(
        nodes.map(async (n) => {
          const { tickets } = await n.gateway.nodeTickets<TicketsView>(n.wallet.address);
          const ours = tickets.filter(
            (t) =>
              (t.role === 'node' || t.role === 'replica') &&
              t.ticket.node.toLowerCase() === n.wallet.address.toLowerCase() &&
              price.has(t.ticket.jobId),
          );
          const verified = ours.reduce(
            (s, t) => s + BigInt(t.ticket.amount) / price.get(t.ticket.jobId)!,
            0n,
          );
          const view = await fetchRewards(n.gateway, n.wallet.address);
          const posted = view.rewards
            .filter((r) => r.epoch >= firstEpoch)
            .reduce((s, r) => s + BigInt(r.fuel), 0n);
          return { verified, posted, unredeemed: ours.filter((t) => t.redeemedAt === null).length };
        }),
      );

    const waitMs = WAIT_EPOCHS * epochLength * 1000;
    const pool = await mining.scheduledReward(epochAt(Date.now()));
    out(
      `  EmethMining ${address}: epochs of ${epochLength} s (an hour in production), ${formatEmeth(pool)} EMETH each now (the paper's schedule)`,
    );
    out(
      `  waiting (at most ${WAIT_EPOCHS} epochs, ${waitMs / 1000} s) for the Schedule ${config.temporal.taskQueuePrefix}-l2-mining to post the fuel verified since epoch ${firstEpoch}`,
    );
    const deadline = Date.now() + waitMs;
    let last = '';
    for (;;) {
      const p = await progress();
      const verified = p.reduce((s, x) => s + x.verified, 0n);
      const posted = p.reduce((s, x) => s + x.posted, 0n);
      const unredeemed = p.reduce((s, x) => s + x.unredeemed, 0);
      if (verified === 0n) {
        out('  no verified work since the demo started: nothing to claim');
        return;
      }
      // Claims wait for the nodes' own ticket redemptions: the same keys, so no two sends race a nonce.
      if (p.every((x) => x.posted >= x.verified) && unredeemed === 0) break;
      const line = `  epoch ${epochAt(Date.now())} in progress; ${posted} of ${verified} fuel posted${unredeemed ? `; ${unredeemed} tickets still to be redeemed by their nodes` : ''}`;
      if (line !== last) out((last = line));
      if (Date.now() > deadline)
        throw new EmethError(
          'MINING_NOT_POSTED',
          posted < verified
            ? `the L2's mining Schedule did not post the demo nodes' verified fuel within ${WAIT_EPOCHS} epochs (${posted} of ${verified} fuel posted); see ${stack.logDir}/l2.log`
            : `the demo nodes' tickets were not all redeemed within ${WAIT_EPOCHS} epochs (${unredeemed} left), so the claims were not sent; see ${stack.logDir}/node-*.log`,
        );
      await new Promise((r) => setTimeout(r, 1000));
    }

    // Each node claims every open epoch in one claimMany from its own key (`emeth node rewards --claim`).
    const rows: string[][] = [
      ['epoch', 'pool (EMETH)', 'node', 'fuel', 'total fuel', 'reward (EMETH)', 'claim tx'],
    ];
    const changes: string[][] = [['node', 'reward (EMETH)', 'balance change', 'equal']];
    for (const n of nodes) {
      const chainNow = (await provider.getBlock('latest'))!.timestamp;
      const open: MiningRewardView[] = openRewards(
        await fetchRewards(n.gateway, n.wallet.address),
        chainNow * 1000,
      );
      if (open.length === 0) continue;
      const { receipt, paid } = await claimRewards(emethMining(address, n.wallet), open);
      // anvil mines one transaction a block: the claim's block moves the balance by the claim alone.
      const balanceAt = (blockTag: number) => token.balanceOf(n.wallet.address, { blockTag });
      const change = (await balanceAt(receipt.blockNumber)) - (await balanceAt(receipt.blockNumber - 1));
      const reward = open.reduce((s, r) => s + BigInt(r.amount), 0n);
      for (const r of open)
        rows.push([
          String(r.epoch),
          formatEmeth(BigInt(r.pool)),
          n.name,
          r.fuel,
          r.totalFuel,
          formatEmeth(BigInt(r.amount)),
          `${receipt.hash.slice(0, 18)}…`,
        ]);
      const equal = change === reward && paid === reward;
      changes.push([n.name, formatEmeth(reward), `+${formatEmeth(change)}`, equal ? 'yes' : 'NO']);
      if (!equal)
        throw new EmethError(
          'MINING_CLAIM_MISMATCH',
          `${n.name}'s balance moved by ${formatEmeth(change)} EMETH on its claim (tx ${receipt.hash}), not by its reward of ${formatEmeth(reward)} EMETH`,
        );
    }
    const [head, ...body] = rows;
    // By epoch, then node (the claims went node by node).
    body.sort((a, b) => Number(a[0]) - Number(b[0]) || a[2]!.localeCompare(b[2]!));
    printTable([head!, ...body], out);
    out('');
    printTable(changes, out);
    out(
      '  Each reward is floor(pool × fuel / total fuel) in holon (EMETH amounts above); what rounds off stays',
    );
    out('  in the epoch and returns to the pool when it is swept after its claim window.');
  } finally {
    provider.destroy();
  }
}

function printTable(rows: string[][], out: (line: string) => void): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(`  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd());
}
