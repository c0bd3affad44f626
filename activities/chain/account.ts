/**
 * What any EMETH account does on EmethCore with its own key: read balances, approve, register as a
 * node, keep an L2 deposit, withdraw, and redeem signed tickets. Each write is safe to retry: it
 * reads first and reports `alreadyDone` when the effect is already on chain.
 */
import { TicketTree, deserializeTicket, type Batch, type SerializedTicket } from '../../lib/tickets';
import { readDeposit, readNode, type ChainDeposit, type ChainNode } from './reads';
import { ChainStateError, type Amount, type ChainTx, type TxResult } from './tx';

export interface RedeemInput {
  batch: { batchId: string; root: string; total: string };
  signature: string;
  /** Every ticket of the batch, in batch order (the tree is rebuilt from them). */
  tickets: SerializedTicket[];
  /** Which tickets to redeem (default: all). Already redeemed ones are skipped. */
  indices?: number[];
}

export interface RedeemResult extends TxResult {
  redeemed: number[];
  skipped: number[];
}

export function createAccountActivities(tx: ChainTx) {
  const { core, token, send, done, self, deps } = tx;
  return {
    /** This worker's address. */
    address: self,

    async chainInfo(): Promise<{ chainId: number; blockNumber: number; core: string; token: string }> {
      const [network, blockNumber] = await Promise.all([
        deps.provider.getNetwork(),
        deps.provider.getBlockNumber(),
      ]);
      return {
        chainId: Number(network.chainId),
        blockNumber,
        core: deps.deployment.core,
        token: deps.deployment.token,
      };
    },

    async balanceOf(address?: string): Promise<string> {
      return (await token.balanceOf(address ?? (await self()))).toString();
    },

    async getDeposit(requester?: string): Promise<ChainDeposit> {
      return readDeposit(core, requester ?? (await self()));
    },

    async getNode(address?: string): Promise<ChainNode> {
      return readNode(core, address ?? (await self()));
    },

    async isTicketRedeemed(root: string, index: number): Promise<boolean> {
      return core.isRedeemed(root, index);
    },

    /** Lets EmethCore pull at least `amount` of this worker's tokens (approves max when short). */
    async ensureAllowance(amount: Amount): Promise<TxResult> {
      const current = await token.allowance(await self(), deps.deployment.core);
      if (current >= BigInt(amount)) return done('approve', { amount: String(amount) });
      return send('approve', { amount: String(amount) }, () =>
        token.approve(deps.deployment.core, 2n ** 256n - 1n),
      );
    },

    async registerNode(input: {
      stake: Amount;
      encryptionKey: string;
      capabilityClass: number;
    }): Promise<TxResult> {
      const n = await core.getNode(await self());
      if (n.registered) return done('registerNode', { node: await self() });
      return send('registerNode', { node: await self(), stake: String(input.stake) }, () =>
        core.registerNode(BigInt(input.stake), input.encryptionKey, input.capabilityClass),
      );
    },

    /** Tops the caller's deposit up to `target` (idempotent: a retry deposits nothing more). */
    async ensureDeposit(target: Amount): Promise<TxResult & { deposited: string }> {
      const d = await core.getDeposit(await self());
      const missing = BigInt(target) - d.balance;
      if (missing <= 0n) return { ...done('deposit', { target: String(target) }), deposited: '0' };
      const r = await send('deposit', { amount: missing.toString() }, () => core.deposit(missing));
      return { ...r, deposited: missing.toString() };
    },

    async requestWithdrawal(amount: Amount): Promise<TxResult> {
      return send('requestWithdrawal', { amount: String(amount) }, () =>
        core.requestWithdrawal(BigInt(amount)),
      );
    },

    async withdraw(): Promise<TxResult> {
      const d = await core.getDeposit(await self());
      if (d.pendingWithdrawal === 0n) return done('withdraw', {});
      return send('withdraw', {}, () => core.withdraw());
    },

    /**
     * Redeems the chosen tickets of a signed batch in one `redeemMany` (one `redeem` when there is
     * a single ticket), skipping those already redeemed: safe to retry.
     */
    async redeemTickets(input: RedeemInput): Promise<RedeemResult> {
      const tree = new TicketTree(input.tickets.map(deserializeTicket));
      const batch: Batch = {
        batchId: BigInt(input.batch.batchId),
        root: input.batch.root,
        total: BigInt(input.batch.total),
      };
      if (tree.root !== batch.root)
        throw new ChainStateError(`the tickets build root ${tree.root}, not the batch's ${batch.root}`);
      const wanted = input.indices ?? tree.tickets.map((_, i) => i);
      const flags = await Promise.all(wanted.map((i) => core.isRedeemed(batch.root, i)));
      const todo = wanted.filter((_, k) => !flags[k]);
      const skipped = wanted.filter((_, k) => flags[k]);
      if (todo.length === 0) return { ...done('redeem', { root: batch.root }), redeemed: [], skipped };
      const fields = { root: batch.root, batchId: input.batch.batchId, count: todo.length };
      let r: TxResult;
      if (todo.length === 1) {
        const i = todo[0]!;
        r = await send('redeem', fields, () =>
          core.redeem(batch, input.signature, tree.tickets[i]!, i, tree.proof(i)),
        );
      } else {
        const mp = tree.multiProof(todo);
        r = await send('redeemMany', fields, () =>
          core.redeemMany(batch, input.signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
        );
      }
      return { ...r, redeemed: todo, skipped };
    },
  };
}

export type AccountActivities = ReturnType<typeof createAccountActivities>;
