import { HDNodeWallet, JsonRpcProvider, MaxUint256, id, type ContractTransactionResponse } from 'ethers';
import { startAnvil, type Anvil } from '../../cli/stack/anvil';
import { deployContracts, type DeployOptions } from '../../contracts/deploy';
import { decodeRevert } from '../../contracts/errors';
import { SerialSigner } from '../../contracts/serial-signer';
import { emethCore, emethToken, type EmethCore, type EmethToken } from '../../contracts/typed';
import type { Deployment } from '../../lib/types-chain';
import { emethDomain, type Ticket } from '../../lib/tickets';
import { signCommit, type Commit } from '../../activities/chain/commitments';
import { EMETH } from '../../lib/fees';

/** anvil's default mnemonic: accounts 0..9 hold 10,000 ETH each. */
const MNEMONIC = 'test test test test test test test test test test test junk';

export interface Actor {
  name: string;
  address: string;
  signer: SerialSigner;
  wallet: HDNodeWallet;
  token: EmethToken;
  core: EmethCore;
}

export interface Harness {
  anvil: Anvil;
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** Account 0: deployer, admin, L1 server, L2 server, verifier and signer by default. */
  admin: Actor;
  actors: Actor[];
  actor(name: string): Actor;
  increaseTime(seconds: number | bigint): Promise<void>;
  now(): Promise<bigint>;
  balance(address: string): Promise<bigint>;
  snapshot(): Promise<string>;
  revert(id: string): Promise<void>;
  stop(): Promise<void>;
}

export const ACTOR_NAMES = [
  'admin',
  'requester',
  'node',
  'node2',
  'verifier',
  'signer',
  'requester2',
  'outsider',
  'server',
  'node3',
];

/**
 * One fresh anvil per suite with the contracts deployed; every actor gets `fund` EMETH minted and
 * an unlimited allowance for EmethCore. Roles: admin holds everything; `verifier`, `signer` and
 * `server` (the L1 and the L2 server) hold theirs too, so tests can use either.
 */
export async function startHarness(opts: { fund?: bigint; deploy?: DeployOptions } = {}): Promise<Harness> {
  const anvil = await startAnvil();
  const provider = new JsonRpcProvider(anvil.rpcUrl, undefined, { batchStallTime: 0, cacheTimeout: -1 });
  provider.pollingInterval = 50;
  try {
    const wallets = ACTOR_NAMES.map((_, i) =>
      HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).connect(provider),
    );
    const signers = wallets.map((w) => new SerialSigner(w));
    const addr = (name: string): string => wallets[ACTOR_NAMES.indexOf(name)]!.address;
    const deployment = await deployContracts(signers[0]!, {
      l1Servers: [addr('admin'), addr('server')],
      verifiers: [addr('admin'), addr('verifier')],
      signers: [addr('admin'), addr('signer')],
      l2Servers: [addr('admin'), addr('server')],
      ...opts.deploy,
    });
    const actors: Actor[] = wallets.map((wallet, i) => ({
      name: ACTOR_NAMES[i]!,
      address: wallet.address,
      wallet,
      signer: signers[i]!,
      token: emethToken(deployment.token, signers[i]!),
      core: emethCore(deployment.core, signers[i]!),
    }));
    const admin = actors[0]!;
    const fund = opts.fund ?? 1_000_000n * EMETH;
    await Promise.all(
      actors.map(async (a) => {
        await mined(admin.token.mint(a.address, fund));
        await mined(a.token.approve(deployment.core, MaxUint256));
      }),
    );
    const rpc = (method: string, params: unknown[]): Promise<unknown> => provider.send(method, params);
    return {
      anvil,
      provider,
      deployment,
      admin,
      actors,
      actor(name) {
        const a = actors.find((x) => x.name === name);
        if (!a) throw new Error(`no actor ${name}`);
        return a;
      },
      async increaseTime(seconds) {
        await rpc('evm_increaseTime', [Number(seconds)]);
        await rpc('evm_mine', []);
      },
      async now() {
        return BigInt((await provider.getBlock('latest'))!.timestamp);
      },
      balance: (address) => admin.token.balanceOf(address),
      snapshot: () => rpc('evm_snapshot', []) as Promise<string>,
      async revert(id) {
        await rpc('evm_revert', [id]);
        for (const a of actors) a.signer.resetNonce();
      },
      async stop() {
        provider.destroy();
        await anvil.stop();
      },
    };
  } catch (err) {
    provider.destroy();
    await anvil.stop();
    throw err;
  }
}

/** Sends, waits for the receipt, and fails if the transaction reverted. */
export async function mined(
  tx: Promise<ContractTransactionResponse>,
): Promise<{ gasUsed: bigint; blockNumber: number }> {
  const receipt = await (await tx).wait();
  if (!receipt || receipt.status !== 1) throw new Error('transaction reverted');
  return { gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber };
}

/** Asserts that the call reverts with the named custom error (and, optionally, these arguments). */
export async function expectRevert(tx: Promise<unknown>, errorName: string, args?: unknown[]): Promise<void> {
  let error: unknown;
  try {
    await tx;
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected a revert with ${errorName}, but the call succeeded`);
  const decoded = decodeRevert(error);
  if (!decoded)
    throw new Error(
      `expected a revert with ${errorName}, got an undecodable error: ${(error as Error).message}`,
    );
  expect(decoded.error.name).toBe(errorName);
  if (args) expect([...decoded.error.args]).toEqual(args);
}

/**
 * Commits `amount` of `requester`'s deposit to `jobId` as the L2 does: the requester signs the
 * EIP-712 Commit, `by` (default the `server` actor; L2_SERVER_ROLE) sends it. Deadline: a day from now.
 */
export async function commitFor(
  h: Harness,
  requester: Actor,
  jobId: string,
  amount: bigint,
  deadline?: bigint,
  by: Actor = h.actor('server'),
): Promise<Commit & { signature: string }> {
  const c: Commit = {
    requester: requester.address,
    jobId,
    amount,
    deadline: deadline ?? (await h.now()) + 86_400n,
  };
  const signature = await signCommit(
    requester.wallet,
    emethDomain(h.deployment.chainId, h.deployment.core),
    c,
  );
  await mined(by.core.commit(c, signature));
  return { ...c, signature };
}

/** Commits, per (requester, job), the sum of amount + verifierFee of `tickets` (so they can be redeemed). */
export async function commitTickets(h: Harness, tickets: readonly Ticket[]): Promise<void> {
  const sums = new Map<string, { requester: string; jobId: string; amount: bigint }>();
  for (const t of tickets) {
    const key = `${t.requester.toLowerCase()}/${t.jobId}`;
    const e = sums.get(key) ?? { requester: t.requester, jobId: t.jobId, amount: 0n };
    e.amount += t.amount + t.verifierFee;
    sums.set(key, e);
  }
  for (const e of sums.values()) {
    const who = h.actors.find((a) => a.address.toLowerCase() === e.requester.toLowerCase());
    if (!who) throw new Error(`no actor is requester ${e.requester}`);
    await commitFor(h, who, e.jobId, e.amount);
  }
}

/** A bytes32 id from a label. */
export function id32(label: string): string {
  return id(label);
}

/** Records balances now; `deltas()` returns how each changed since, to the holon. */
export async function trackBalances(
  h: Harness,
  addresses: Record<string, string>,
): Promise<{ deltas(): Promise<Record<string, bigint>> }> {
  const read = async (): Promise<Record<string, bigint>> => {
    const out: Record<string, bigint> = {};
    for (const [k, a] of Object.entries(addresses)) out[k] = await h.balance(a);
    return out;
  };
  const before = await read();
  return {
    async deltas() {
      const after = await read();
      const d: Record<string, bigint> = {};
      for (const k of Object.keys(addresses)) d[k] = after[k]! - before[k]!;
      return d;
    },
  };
}
