/**
 * A node operator's view of its money: `emeth node status` (stake, locked, unstaking, earned,
 * penalties, tickets waiting) from EmethCore and the gateway, `emeth node unstake` (EmethCore's
 * two steps: requestUnstake, then unstake once the cooldown has passed), and `emeth node rewards`
 * (its GPU Mining Program epochs, and with --claim their claim on EmethMining).
 */
import { getAddress, isAddress, type TransactionReceipt, type Wallet } from 'ethers';
import type { EmethConfig } from '../../lib/config';
import { EmethError } from '../../lib/errors';
import { decodeRevert } from '../../contracts/errors';
import { emethMining, type EmethMining } from '../../contracts/typed';
import { GatewayClient } from '../gateway-client';
import {
  UsageError,
  emeth,
  parseAmount,
  runCommand,
  stringOption,
  when,
  type CommandSpec,
  type Io,
} from './args';
import { ChainRefusal, chainContext, chainFailure, type ChainContext } from './chain';
import { KEY_OPTIONS, hasKeySource, loadSigner } from './keys';

const STATUS: CommandSpec = {
  name: 'node status',
  summary:
    "A node's stake, locked stake, unstaking, earnings redeemed, penalties burned and tickets waiting.\nTickets and earnings are the node's own to read: they need its key; the rest needs only --address.",
  options: {
    ...KEY_OPTIONS,
    address: { type: 'string', value: 'address', help: "which node (default: the key's address)" },
  },
  positionals: { min: 0, max: 0 },
};

const UNSTAKE: CommandSpec = {
  name: 'node unstake',
  args: '[<EMETH>]',
  summary:
    "Takes stake back to the wallet in EmethCore's two steps: a request (of <EMETH>, or of all free stake),\nthen the payment once the unstake cooldown has passed. Stake waiting to unlock is paid first when it is ready;\nwhile it is not, the time to run `emeth node unstake` again is printed.",
  options: KEY_OPTIONS,
  positionals: { min: 0, max: 1 },
};

const REWARDS: CommandSpec = {
  name: 'node rewards',
  summary:
    "The node's GPU Mining Program rewards: per posted epoch its verified fuel, the epoch's pool, what a claim\npays (floor(pool × fuel / total fuel)) and whether it is claimed. With --claim, every unclaimed epoch still\nopen is claimed in one EmethMining.claimMany, from the node's own key (nobody can claim for another node).",
  options: {
    ...KEY_OPTIONS,
    claim: { type: 'boolean', help: 'claim every unclaimed epoch whose claim window is open' },
  },
  positionals: { min: 0, max: 0 },
};

interface TicketView {
  ticket: { amount: string };
  batch: unknown;
  redeemedAt: string | null;
}

/** Σ penalties burned from `node`'s stake (L1 SubJobs and L2 attempts), from EmethCore's events. */
async function penaltiesOf(ctx: ChainContext, node: string): Promise<{ total: bigint; count: number }> {
  const from = ctx.deployment.blockNumber;
  const [l1, l2] = await Promise.all([
    ctx.core.queryFilter(ctx.core.filters.PenaltyBurned(node), from),
    ctx.core.queryFilter(ctx.core.filters.L2PenaltyBurned(node), from),
  ]);
  const total = [...l1, ...l2].reduce((s, e) => s + BigInt(e.args.amount), 0n);
  return { total, count: l1.length + l2.length };
}

export function nodeStatus(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(STATUS, argv, io, async (p) => {
    const given = stringOption(p, 'address');
    if (given !== undefined && !isAddress(given))
      throw new UsageError(`--address ${given} is not an address (0x and 40 hex digits)`);
    const signer: Wallet | undefined =
      given === undefined || hasKeySource(p, config) ? await loadSigner(p, config, io, 'node') : undefined;
    const node = getAddress(given ?? signer!.address);
    const ctx = await chainContext(config);
    try {
      const [n, penalties, now] = await Promise.all([
        ctx.core.getNode(node),
        penaltiesOf(ctx, node),
        ctx.now(),
      ]);
      const free = n.stake - n.locked;
      const rows: [string, string][] = [['node', node]];
      rows.push([
        'registered',
        n.registered ? 'yes' : 'no (a node registers and stakes with `emeth node start`)',
      ]);
      rows.push(['stake', `${ctx.fmt(n.stake)} (free ${ctx.fmt(free)})`]);
      rows.push(['locked', ctx.fmt(n.locked)]);
      rows.push([
        'unstaking',
        ctx.fmt(n.unstaking) +
          (n.unstaking > 0n ? `, unlocks at ${when(Number(n.unstakeUnlockAt), now)}` : ''),
      ]);
      rows.push(['penalties', `${ctx.fmt(penalties.total)} burned (${penalties.count})`]);
      if (!signer) {
        rows.push(['gateway', '- (needs a key to sign requests)']);
        rows.push(['earned', '- (only the node itself may read its tickets: run with its key)']);
      } else {
        const gw = new GatewayClient(config.gateway.url, signer, config.chain.chainId);
        try {
          const g = await gw.getNode<{
            status: string;
            capabilityClass: string;
            lastSeenAt: string;
            completed: number;
            failures: number;
          }>(node);
          rows.push([
            'gateway',
            `${g.status} (class ${g.capabilityClass}), last seen ${g.lastSeenAt}, ${g.completed} SubJobs verified, ${g.failures} failed`,
          ]);
        } catch (err) {
          if (!(err instanceof EmethError) || err.code !== 'node_not_found') throw err;
          rows.push(['gateway', 'not registered (a node registers itself when `emeth node start` runs)']);
        }
        if (getAddress(signer.address) !== node) {
          rows.push(['earned', '- (only the node itself may read its tickets: run with its key)']);
        } else {
          const { tickets } = await gw.nodeTickets<{ tickets: TicketView[] }>(node);
          const redeemed = tickets.filter((t) => t.redeemedAt !== null);
          const waiting = tickets.filter((t) => t.redeemedAt === null);
          const sum = (ts: TicketView[]) => ts.reduce((s, t) => s + BigInt(t.ticket.amount), 0n);
          const unbatched = waiting.filter((t) => t.batch === null).length;
          rows.push(['earned', `${ctx.fmt(sum(redeemed))} redeemed (${redeemed.length} tickets)`]);
          rows.push([
            'tickets',
            `${waiting.length} pending (${ctx.fmt(sum(waiting))})${unbatched ? `, ${unbatched} not yet signed in a batch` : ''}`,
          ]);
        }
      }
      for (const [k, v] of rows) io.out(`${k.padEnd(10)} ${v}`);
    } finally {
      ctx.close();
    }
  });
}

export function nodeUnstake(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(UNSTAKE, argv, io, async (p) => {
    if (p.positionals[0] !== undefined) parseAmount(p.positionals[0]); // a usage error before the key is opened
    const signer = await loadSigner(p, config, io, 'node');
    const ctx = await chainContext(config, signer);
    const me = signer.address;
    try {
      const asked = p.positionals[0] !== undefined ? parseAmount(p.positionals[0], ctx.decimals) : undefined;
      const n0 = await ctx.core.getNode(me);
      if (!n0.registered)
        throw new EmethError('NOT_A_NODE', `${me} is not a registered node; there is no stake to take back`);
      const payIfReady = async (): Promise<boolean> => {
        const n = await ctx.core.getNode(me);
        if (n.unstaking === 0n || Number(n.unstakeUnlockAt) > (await ctx.now())) return false;
        const before = await ctx.token.balanceOf(me);
        const receipt = await ctx.send('unstake', () => ctx.core.unstake());
        io.out(
          `unstaked ${ctx.fmt((await ctx.token.balanceOf(me)) - before)} to the wallet ${me} (tx ${receipt.hash})`,
        );
        return true;
      };
      if ((await payIfReady()) && asked === undefined) return;
      const n = await ctx.core.getNode(me);
      if (asked === undefined && n.unstaking > 0n) {
        io.out(
          `${ctx.fmt(n.unstaking)} is unstaking, unlocks at ${when(Number(n.unstakeUnlockAt), await ctx.now())}; run \`emeth node unstake\` again then (\`emeth node unstake <EMETH>\` adds to it and restarts the cooldown)`,
        );
        return;
      }
      const free = n.stake - n.locked;
      const amount = asked ?? free;
      if (amount === 0n)
        throw new EmethError(
          'NOTHING_TO_UNSTAKE',
          `the free stake of ${me} is 0 EMETH (stake ${ctx.fmt(n.stake)}, locked by running attempts ${ctx.fmt(n.locked)}); try again when its attempts end`,
        );
      if (amount > free)
        throw new EmethError(
          'INSUFFICIENT_FREE_STAKE',
          `${ctx.fmt(amount)} asked for but only ${ctx.fmt(free)} of the stake is free (locked by running attempts ${ctx.fmt(n.locked)}); ask for at most ${ctx.fmt(free)}`,
        );
      if (n.unstaking > 0n)
        io.out(
          `note: ${ctx.fmt(n.unstaking)} was unstaking already; this request adds to it and restarts the cooldown`,
        );
      await ctx.send('requestUnstake', () => ctx.core.requestUnstake(amount));
      const after = await ctx.core.getNode(me);
      io.out(
        `requested to unstake ${ctx.fmt(amount)} (unstaking now ${ctx.fmt(after.unstaking)}, stake left ${ctx.fmt(after.stake)}; cooldown ${await ctx.core.unstakeCooldown()} s)`,
      );
      if (!(await payIfReady()))
        io.out(
          `unlocks at ${when(Number(after.unstakeUnlockAt), await ctx.now())}; run \`emeth node unstake\` again then to receive it`,
        );
    } finally {
      ctx.close();
    }
  });
}

/** One posted epoch of GET /v1/nodes/:address/rewards. */
export interface MiningRewardView {
  epoch: number;
  fuel: string;
  totalFuel: string;
  pool: string;
  amount: string;
  claimed: boolean;
  claimDeadline: string | null;
  proof: string[];
  txHash: string | null;
}

export interface MiningRewardsView {
  node: string;
  mining: string;
  rewards: MiningRewardView[];
  totals: { claimable: string; claimed: string; expired: string };
}

/** GET /v1/nodes/:address/rewards, signed by the node itself. */
export function fetchRewards(gateway: GatewayClient, node: string): Promise<MiningRewardsView> {
  return gateway.call<MiningRewardsView>('GET', `/v1/nodes/${node.toLowerCase()}/rewards`);
}

/** The epochs a claim would pay now: unclaimed, a non-zero amount, claim window still open. */
export function openRewards(view: MiningRewardsView, nowMs: number): MiningRewardView[] {
  return view.rewards.filter(
    (r) =>
      !r.claimed &&
      BigInt(r.amount) > 0n &&
      (r.claimDeadline === null || Date.parse(r.claimDeadline) > nowMs),
  );
}

/**
 * Claims these epochs in one EmethMining.claimMany from `signer` (the node itself). Returns the
 * receipt and what the transfer paid, read from the RewardClaimed events. Throws a ChainRefusal
 * naming the contract's rule when it refuses.
 */
export async function claimRewards(
  mining: EmethMining,
  rewards: readonly MiningRewardView[],
): Promise<{ receipt: TransactionReceipt; paid: bigint }> {
  try {
    const tx = await mining.claimMany(
      rewards.map((r) => r.epoch),
      rewards.map((r) => BigInt(r.fuel)),
      rewards.map((r) => r.proof),
    );
    const receipt = await tx.wait();
    if (!receipt || receipt.status !== 1)
      throw new ChainRefusal(`claimMany was mined but reverted (tx ${receipt?.hash ?? '?'}); run it again`);
    let paid = 0n;
    for (const log of receipt.logs) {
      const parsed = mining.interface.parseLog(log);
      if (parsed?.name === 'RewardClaimed') paid += BigInt(parsed.args.amount);
    }
    return { receipt, paid };
  } catch (err) {
    throw miningRefusal(err);
  }
}

/** EmethMining's refusal as one sentence with what to do; undefined when it is not one of its errors. */
export function miningRefusal(err: unknown): EmethError {
  if (err instanceof EmethError) return err;
  const decoded = decodeRevert(err, 'EmethMining');
  if (!decoded || decoded.contract !== 'EmethMining')
    return new ChainRefusal(
      `claimMany failed: ${(err as Error).message?.split('\n')[0] ?? String(err)}`,
      undefined,
      {
        cause: err,
      },
    );
  const a = [...decoded.error.args];
  const at = (v: unknown) => when(Number(v), Math.floor(Date.now() / 1000));
  const text = ((): string => {
    switch (decoded.error.name) {
      case 'AlreadyClaimed':
        return `epoch ${a[0]} was claimed already by ${a[1]}; run \`emeth node rewards\` to see what is left`;
      case 'MiningStakeTooLow':
        return `the node's stake on EmethCore is ${emeth(BigInt(a[1] as bigint))} but a claim needs at least ${emeth(BigInt(a[2] as bigint))}; add stake on EmethCore (addStake), then claim again`;
      case 'NodeNotRegistered':
        return `${a[0]} is not a registered node on EmethCore; only a registered, staked node can claim`;
      case 'ClaimWindowClosed':
        return `the claim window of epoch ${a[0]} closed at ${at(a[1])}; its reward returns to the pool`;
      case 'InvalidProof':
        return `the proof for epoch ${a[0]} (fuel ${a[2]}) does not match the posted root; tell the L2 operator`;
      case 'EpochNotPosted':
        return `epoch ${a[0]} is not posted on EmethMining yet; try again after it is`;
      case 'NotNode':
        return `${a[0]} may not claim for ${a[1]}: a node claims only for itself, with its own key`;
      case 'PoolExceeded':
        return `epoch ${a[0]}'s claims would exceed its pool; tell the L2 operator`;
      default:
        return `${decoded.error.name}(${a.map(String).join(', ')}); see contracts/EmethMining.sol for the rule`;
    }
  })();
  return new ChainRefusal(
    `EmethMining refused the claim with ${decoded.error.name}: ${text}`,
    decoded.error.name,
    {
      cause: err,
    },
  );
}

export function nodeRewards(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(REWARDS, argv, io, async (p) => {
    const signer = await loadSigner(p, config, io, 'node');
    const ctx = await chainContext(config, signer);
    try {
      const node = getAddress(signer.address);
      if (!ctx.deployment.mining)
        throw new EmethError(
          'NO_MINING',
          `the deployment in ${config.chain.deploymentFile} has no EmethMining contract (written before the GPU Mining Program); there are no mining rewards to show`,
        );
      const gw = new GatewayClient(config.gateway.url, signer, ctx.deployment.chainId);
      const view = await fetchRewards(gw, node);
      printRewards(view, ctx, io);
      if (!p.values.claim) return;
      const open = openRewards(view, (await ctx.now()) * 1000);
      if (open.length === 0) {
        io.out('nothing to claim: every epoch with a reward is claimed or its claim window has closed');
        return;
      }
      const mining = emethMining(ctx.deployment.mining, signer.connect(ctx.provider));
      const before = await ctx.token.balanceOf(node);
      const { receipt, paid } = await claimRewards(mining, open).catch((err: unknown) => {
        throw err instanceof ChainRefusal && err.errorName
          ? err
          : chainFailure(err, 'claimMany', config, ctx.decimals);
      });
      const got = (await ctx.token.balanceOf(node)) - before;
      io.out(
        `claimed ${open.length} epoch${open.length === 1 ? '' : 's'} (${open.map((r) => r.epoch).join(', ')}): ${ctx.fmt(paid)} to ${node} (wallet +${ctx.fmt(got)}, tx ${receipt.hash})`,
      );
    } finally {
      ctx.close();
    }
  });
}

function printRewards(view: MiningRewardsView, ctx: ChainContext, io: Io): void {
  io.out(`node ${getAddress(view.node)}, EmethMining ${getAddress(view.mining)}`);
  if (view.rewards.length === 0) {
    io.out('no posted mining epoch has verified work of this node yet (epochs are posted once they end)');
    return;
  }
  const rows = [
    ['epoch', 'fuel', 'total fuel', 'pool', 'amount', 'claimed', 'claimable until'],
    ...view.rewards.map((r) => [
      String(r.epoch),
      r.fuel,
      r.totalFuel,
      ctx.fmt(BigInt(r.pool)),
      ctx.fmt(BigInt(r.amount)),
      r.claimed ? 'yes' : 'no',
      r.claimDeadline ?? '-',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    io.out(
      r
        .map((c, i) => (i < 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
  io.out(
    `claimable ${ctx.fmt(BigInt(view.totals.claimable))}, claimed ${ctx.fmt(BigInt(view.totals.claimed))}${BigInt(view.totals.expired) > 0n ? `, expired ${ctx.fmt(BigInt(view.totals.expired))}` : ''}`,
  );
}
