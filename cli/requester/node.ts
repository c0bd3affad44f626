/**
 * A node operator's view of its money: `emeth node status` (stake, locked, unstaking, earned,
 * penalties, tickets waiting) from EmethCore and the gateway, and `emeth node unstake` (EmethCore's
 * two steps: requestUnstake, then unstake once the cooldown has passed).
 */
import { getAddress, isAddress, type Wallet } from 'ethers';
import type { EmethConfig } from '../../lib/config';
import { EmethError } from '../../lib/errors';
import { GatewayClient } from '../gateway-client';
import { UsageError, parseAmount, runCommand, stringOption, when, type CommandSpec, type Io } from './args';
import { chainContext, type ChainContext } from './chain';
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
