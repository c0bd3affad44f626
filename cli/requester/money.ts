/**
 * The requester's money on EmethCore: `emeth deposit`, `emeth withdraw` (EmethCore's two steps:
 * requestWithdrawal, then withdraw once `withdrawalDelay` has passed) and `emeth balance`.
 */
import { getAddress, isAddress } from 'ethers';
import type { EmethConfig } from '../../lib/config';
import { EmethError } from '../../lib/errors';
import { UsageError, parseAmount, runCommand, stringOption, when, type CommandSpec, type Io } from './args';
import { chainContext, type ChainContext } from './chain';
import { KEY_OPTIONS, loadSigner } from './keys';

const DEPOSIT: CommandSpec = {
  name: 'deposit',
  args: '<EMETH>',
  summary:
    "Approves EmethCore for <EMETH> (decimal, like 12.5) of the wallet's tokens and deposits them:\nthe balance Jobs are committed from and paid out of.",
  options: KEY_OPTIONS,
  positionals: { min: 1, max: 1 },
};

const WITHDRAW: CommandSpec = {
  name: 'withdraw',
  args: '[<EMETH>]',
  summary:
    "Takes deposit back to the wallet in EmethCore's two steps: a request (of <EMETH>, or of the whole free deposit),\nthen the payment once the withdrawal delay has passed. A pending withdrawal that is ready is paid first;\none that is not ready yet is reported with the time to run `emeth withdraw` again.",
  options: KEY_OPTIONS,
  positionals: { min: 0, max: 1 },
};

const BALANCE: CommandSpec = {
  name: 'balance',
  summary:
    "The wallet's EMETH and its deposit on EmethCore: balance, committed to Jobs, pending withdrawal, free.",
  options: {
    ...KEY_OPTIONS,
    address: {
      type: 'string',
      value: 'address',
      help: "whose balances (default: the key's address; no key needed)",
    },
  },
  positionals: { min: 0, max: 0 },
};

async function withChain<T>(
  config: EmethConfig,
  io: Io,
  p: Parameters<typeof loadSigner>[0],
  body: (ctx: ChainContext, me: string) => Promise<T>,
): Promise<T> {
  const signer = await loadSigner(p, config, io);
  const ctx = await chainContext(config, signer);
  try {
    return await body(ctx, signer.address);
  } finally {
    ctx.close();
  }
}

export function deposit(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(DEPOSIT, argv, io, (p) => {
    parseAmount(p.positionals[0]!); // a wrong amount is a usage error before any key or chain is touched
    return withChain(config, io, p, async (ctx, me) => {
      const amount = parseAmount(p.positionals[0]!, ctx.decimals);
      const held = await ctx.token.balanceOf(me);
      if (held < amount)
        throw new EmethError(
          'INSUFFICIENT_TOKENS',
          `the wallet ${me} holds ${ctx.fmt(held)}, less than the ${ctx.fmt(amount)} to deposit; get more EMETH into it or deposit at most ${ctx.fmt(held)}`,
        );
      const allowance = await ctx.token.allowance(me, ctx.deployment.core);
      if (allowance < amount) await ctx.send('approve', () => ctx.token.approve(ctx.deployment.core, amount));
      const receipt = await ctx.send('deposit', () => ctx.core.deposit(amount));
      const d = await ctx.core.getDeposit(me);
      const free = await ctx.core.freeDeposit(me);
      io.out(`deposited ${ctx.fmt(amount)} on EmethCore (tx ${receipt.hash})`);
      io.out(`deposit ${ctx.fmt(d.balance)}, free ${ctx.fmt(free)}`);
    });
  });
}

export function withdraw(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(WITHDRAW, argv, io, (p) => {
    if (p.positionals[0] !== undefined) parseAmount(p.positionals[0]);
    return withChain(config, io, p, async (ctx, me) => {
      const asked = p.positionals[0] !== undefined ? parseAmount(p.positionals[0], ctx.decimals) : undefined;
      const payIfReady = async (): Promise<boolean> => {
        const d = await ctx.core.getDeposit(me);
        if (d.pendingWithdrawal === 0n) return false;
        const now = await ctx.now();
        if (Number(d.withdrawableAt) > now) return false;
        const before = await ctx.token.balanceOf(me);
        const receipt = await ctx.send('withdraw', () => ctx.core.withdraw());
        const paid = (await ctx.token.balanceOf(me)) - before;
        io.out(`withdrew ${ctx.fmt(paid)} to the wallet ${me} (tx ${receipt.hash})`);
        return true;
      };

      // A ready withdrawal is paid first; without an amount that is all this run does.
      let paid = await payIfReady();
      if (paid && asked === undefined) return 0;
      const d = await ctx.core.getDeposit(me);
      const now = await ctx.now();
      if (asked === undefined && d.pendingWithdrawal > 0n) {
        // Asking for more would restart the delay of what is already pending: only say when it is due.
        io.out(
          `${ctx.fmt(d.pendingWithdrawal)} is pending withdrawal, withdrawable at ${when(Number(d.withdrawableAt), now)}; run \`emeth withdraw\` again then (\`emeth withdraw <EMETH>\` adds to it and restarts the delay)`,
        );
        return 0;
      }
      const free = await ctx.core.freeDeposit(me);
      const amount = asked ?? free;
      if (amount === 0n) {
        throw new EmethError(
          'NOTHING_TO_WITHDRAW',
          d.committed > 0n
            ? `the free deposit of ${me} is 0 EMETH (deposit ${ctx.fmt(d.balance)}, all committed to Jobs); there is nothing to withdraw until its Jobs settle`
            : `the free deposit of ${me} is 0 EMETH (deposit ${ctx.fmt(d.balance)}); there is nothing to withdraw`,
        );
      }
      if (amount > free)
        throw new EmethError(
          'INSUFFICIENT_FREE_DEPOSIT',
          `${ctx.fmt(amount)} asked for but only ${ctx.fmt(free)} of the deposit is free (committed to Jobs ${ctx.fmt(d.committed)}, pending withdrawal ${ctx.fmt(d.pendingWithdrawal)}); ask for at most ${ctx.fmt(free)}`,
        );
      if (d.pendingWithdrawal > 0n)
        io.out(
          `note: ${ctx.fmt(d.pendingWithdrawal)} was pending already; this request adds to it and restarts the delay`,
        );
      await ctx.send('requestWithdrawal', () => ctx.core.requestWithdrawal(amount));
      const after = await ctx.core.getDeposit(me);
      const delay = await ctx.core.withdrawalDelay();
      io.out(
        `requested the withdrawal of ${ctx.fmt(amount)} (pending now ${ctx.fmt(after.pendingWithdrawal)}; delay ${delay} s)`,
      );
      paid = await payIfReady();
      if (!paid) {
        io.out(
          `withdrawable at ${when(Number(after.withdrawableAt), await ctx.now())}; run \`emeth withdraw\` again then to receive it`,
        );
      }
    });
  });
}

export function balance(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(BALANCE, argv, io, async (p) => {
    let who = stringOption(p, 'address');
    if (who !== undefined) {
      if (!isAddress(who)) throw new UsageError(`--address ${who} is not an address (0x and 40 hex digits)`);
      who = getAddress(who);
    } else {
      who = (await loadSigner(p, config, io)).address;
    }
    const ctx = await chainContext(config);
    try {
      const [wallet, d, free, now] = await Promise.all([
        ctx.token.balanceOf(who),
        ctx.core.getDeposit(who),
        ctx.core.freeDeposit(who),
        ctx.now(),
      ]);
      const rows: [string, string][] = [
        ['address', who],
        ['wallet', ctx.fmt(wallet)],
        ['deposit', ctx.fmt(d.balance)],
        ['committed', ctx.fmt(d.committed)],
        [
          'pending',
          ctx.fmt(d.pendingWithdrawal) +
            (d.pendingWithdrawal > 0n ? `, withdrawable at ${when(Number(d.withdrawableAt), now)}` : ''),
        ],
        ['free', ctx.fmt(free)],
      ];
      for (const [k, v] of rows) io.out(`${k.padEnd(10)} ${v}`);
    } finally {
      ctx.close();
    }
  });
}
