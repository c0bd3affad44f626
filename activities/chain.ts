/**
 * Chain activities: typed EmethCore/EmethToken calls for the workers, built over their
 * dependencies (provider, signer, deployment, logger).
 *
 * - Sends are serialized per signer with self-counted nonces (SerialSigner), so concurrent
 *   activities of one worker never collide on a nonce.
 * - Every write first reads the state it would change and returns `alreadyDone: true` when the
 *   effect is already there, so a Temporal retry after a lost response never pays, burns or
 *   registers twice.
 * - A revert is rethrown as ContractRevertError naming the rule, e.g.
 *   `EmethCore reverted: TicketAlreadyRedeemed(root=0x…, index=3) during redeemTickets`. It is a
 *   rule violation, not a transient fault: list `ContractRevertError` (and `ChainStateError`, the
 *   chain is not in a state where the action makes sense) in the activity's `nonRetryableErrorTypes`.
 *   RPC failures stay retryable: the check-before-send makes the retry safe.
 * - Amounts cross Temporal as decimal strings (bigint is not JSON); inputs accept bigint too.
 */
import { NonceManager, type Provider, type Signer, type TransactionReceipt } from 'ethers';
import { explainRevert } from '../contracts/errors';
import { SerialSigner } from '../contracts/serial-signer';
import { emethCore, emethToken, type EmethCore, type EmethToken } from '../contracts/typed';
import { TicketTree, deserializeTicket, type Batch, type SerializedTicket } from '../lib/tickets';
import { JobStatus, SubJobStatus, type Deployment } from '../lib/types-chain';
import type { Logger } from '../lib/logger';

export type Amount = bigint | string;

export interface ChainDeps {
  provider: Provider;
  /** The key this worker acts with (requester, node, verifier, signer or L1 server). */
  signer: Signer;
  deployment: Deployment;
  logger?: Logger;
  /** Blocks to wait for after each transaction. Default 1 (anvil automines). */
  confirmations?: number;
}

export interface TxResult {
  /** True when the effect was already on chain and nothing was sent. */
  alreadyDone: boolean;
  txHash?: string;
  blockNumber?: number;
  gasUsed?: string;
}

export interface ChainJob {
  jobId: string;
  requester: string;
  status: JobStatus;
  programId: number;
  deadline: number;
  maxRetries: number;
  processed: boolean;
  subJobCount: number;
  openCount: number;
  verifiedCount: number;
  failedCount: number;
  fuelLimit: string;
  fuelPrice: string;
  verifierFee: string;
  escrow: string;
}

export interface ChainSubJob {
  jobId: string;
  index: number;
  node: string | null;
  status: SubJobStatus;
  retries: number;
  deadline: number;
  fuelLimit: string;
  verifierFee: string;
  deposit: string;
  fuelUsed: string;
  resultDigest: string;
}

export interface ChainDeposit {
  balance: string;
  pendingWithdrawal: string;
  /** balance − pendingWithdrawal: what the gateway may still reserve against. */
  free: string;
  withdrawableAt: number;
}

export interface ChainNode {
  registered: boolean;
  capabilityClass: number;
  stake: string;
  locked: string;
  unstaking: string;
  unstakeUnlockAt: number;
  encryptionKey: string;
}

export interface RequestJobInput {
  jobId: string;
  programId: number;
  fuelLimit: Amount;
  fuelPrice: Amount;
  /** Unix seconds. */
  deadline: number;
  /** bytes32 content id of the dataset. */
  dataset: string;
}

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

/** The chain is not in a state where this action makes sense (and it was not already done). */
export class ChainStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChainStateError';
  }
}

const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

export function createChainActivities(deps: ChainDeps) {
  // ethers' NonceManager would re-number our transactions (and burns nonces on failed
  // estimates): unwrap it and count nonces in a SerialSigner instead.
  const inner = deps.signer instanceof NonceManager ? deps.signer.signer : deps.signer;
  const signer = inner instanceof SerialSigner ? inner : new SerialSigner(inner, deps.provider);
  const core: EmethCore = emethCore(deps.deployment.core, signer);
  const token: EmethToken = emethToken(deps.deployment.token, signer);
  const confirmations = deps.confirmations ?? 1;
  const log = deps.logger;
  let me: string | undefined;
  const self = async (): Promise<string> => (me ??= await signer.getAddress());

  /** Sends one contract call, waits for it, and turns a revert into a ContractRevertError. */
  async function send(
    action: string,
    fields: Record<string, unknown>,
    call: () => Promise<{ wait(n?: number): Promise<TransactionReceipt | null> }>,
  ): Promise<TxResult> {
    try {
      const tx = await call();
      const receipt = await tx.wait(confirmations);
      if (!receipt || receipt.status !== 1)
        throw new ChainStateError(`${action} was mined but reverted (tx ${receipt?.hash ?? '?'})`);
      log?.info(
        { action, ...fields, txHash: receipt.hash, gasUsed: receipt.gasUsed.toString() },
        `chain: ${action}`,
      );
      return {
        alreadyDone: false,
        txHash: receipt.hash,
        blockNumber: receipt.blockNumber,
        gasUsed: receipt.gasUsed.toString(),
      };
    } catch (err) {
      const explained = explainRevert(err, action);
      log?.warn({ action, ...fields, err: explained.message }, `chain: ${action} failed`);
      throw explained;
    }
  }

  const done = (action: string, fields: Record<string, unknown>): TxResult => {
    log?.info({ action, ...fields }, `chain: ${action} already done`);
    return { alreadyDone: true };
  };

  async function getJob(jobId: string): Promise<ChainJob | null> {
    const j = await core.getJob(jobId);
    if (Number(j.status) === JobStatus.None) return null;
    return {
      jobId,
      requester: j.requester,
      status: Number(j.status),
      programId: Number(j.programId),
      deadline: Number(j.deadline),
      maxRetries: Number(j.maxRetries),
      processed: j.processed,
      subJobCount: Number(j.subJobCount),
      openCount: Number(j.openCount),
      verifiedCount: Number(j.verifiedCount),
      failedCount: Number(j.failedCount),
      fuelLimit: j.fuelLimit.toString(),
      fuelPrice: j.fuelPrice.toString(),
      verifierFee: j.verifierFee.toString(),
      escrow: j.escrow.toString(),
    };
  }

  async function getSubJob(jobId: string, index: number): Promise<ChainSubJob> {
    const s = await core.getSubJob(jobId, index);
    return {
      jobId,
      index,
      node: s.node === ZERO_ADDRESS ? null : s.node,
      status: Number(s.status),
      retries: Number(s.retries),
      deadline: Number(s.deadline),
      fuelLimit: s.fuelLimit.toString(),
      verifierFee: s.verifierFee.toString(),
      deposit: s.deposit.toString(),
      fuelUsed: s.fuelUsed.toString(),
      resultDigest: s.resultDigest,
    };
  }

  const same = (a: string | null, b: string): boolean => a !== null && a.toLowerCase() === b.toLowerCase();

  /**
   * For decline/reject/timeout: `attempt` is the SubJob's `retries` when the decision was taken.
   * If the chain has moved past that attempt (re-offered or failed), our action already happened.
   */
  async function penaltyAction(
    action: 'decline' | 'reject' | 'timeout',
    jobId: string,
    index: number,
    attempt: number,
    allowed: SubJobStatus[],
  ): Promise<TxResult> {
    const fields = { jobId, index, attempt };
    const s = await getSubJob(jobId, index);
    // After our action the SubJob was re-offered (retries grew) or failed: nothing left to do.
    if (s.retries > attempt || s.status === SubJobStatus.Failed) {
      return done(action, fields);
    }
    if (!allowed.includes(s.status) || s.retries !== attempt) {
      throw new ChainStateError(
        `${action} of SubJob ${jobId}#${index} attempt ${attempt}: the SubJob is ${SubJobStatus[s.status]} at attempt ${s.retries}`,
      );
    }
    return send(action, fields, () => core[action](jobId, index));
  }

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
      return ((await token.balanceOf(address ?? (await self()))) as bigint).toString();
    },

    getJob,
    getSubJob,

    async getDeposit(requester?: string): Promise<ChainDeposit> {
      const d = await core.getDeposit(requester ?? (await self()));
      return {
        balance: d.balance.toString(),
        pendingWithdrawal: d.pendingWithdrawal.toString(),
        free: (d.balance - d.pendingWithdrawal).toString(),
        withdrawableAt: Number(d.withdrawableAt),
      };
    },

    async getNode(address?: string): Promise<ChainNode> {
      const n = await core.getNode(address ?? (await self()));
      return {
        registered: n.registered,
        capabilityClass: Number(n.capabilityClass),
        stake: n.stake.toString(),
        locked: n.locked.toString(),
        unstaking: n.unstaking.toString(),
        unstakeUnlockAt: Number(n.unstakeUnlockAt),
        encryptionKey: n.encryptionKey,
      };
    },

    async isTicketRedeemed(root: string, index: number): Promise<boolean> {
      return core.isRedeemed(root, index);
    },

    /** Lets EmethCore pull at least `amount` of this worker's tokens (approves max when short). */
    async ensureAllowance(amount: Amount): Promise<TxResult> {
      const current: bigint = await token.allowance(await self(), deps.deployment.core);
      if (current >= BigInt(amount)) return done('approve', { amount: String(amount) });
      return send('approve', { amount: String(amount) }, () =>
        token.approve(deps.deployment.core, 2n ** 256n - 1n),
      );
    },

    // ─────────────── nodes

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

    // ─────────────── L1 jobs

    async requestJob(input: RequestJobInput): Promise<TxResult> {
      const existing = await getJob(input.jobId);
      if (existing) {
        if (!same(existing.requester, await self()))
          throw new ChainStateError(`jobId ${input.jobId} is already used by ${existing.requester}`);
        return done('request', { jobId: input.jobId });
      }
      return send('request', { jobId: input.jobId }, () =>
        core.request(
          input.jobId,
          input.programId,
          BigInt(input.fuelLimit),
          BigInt(input.fuelPrice),
          input.deadline,
          input.dataset,
        ),
      );
    },

    async cancelJob(jobId: string): Promise<TxResult> {
      const j = await getJob(jobId);
      if (j?.status === JobStatus.Cancelled) return done('cancel', { jobId });
      return send('cancel', { jobId }, () => core.cancel(jobId));
    },

    async registerSubJobs(jobId: string, shardSizes: Amount[]): Promise<TxResult> {
      const j = await getJob(jobId);
      if (j && (j.status === JobStatus.Split || j.status === JobStatus.Finished)) {
        if (j.subJobCount !== shardSizes.length) {
          throw new ChainStateError(
            `job ${jobId} already has ${j.subJobCount} SubJobs, not ${shardSizes.length}`,
          );
        }
        return done('registerSubJobs', { jobId });
      }
      return send('registerSubJobs', { jobId, count: shardSizes.length }, () =>
        core.registerSubJobs(jobId, shardSizes.map(BigInt)),
      );
    },

    async processSubJob(jobId: string, index: number): Promise<TxResult> {
      const s = await getSubJob(jobId, index);
      if (s.status !== SubJobStatus.Open && same(s.node, await self()))
        return done('process', { jobId, index });
      return send('process', { jobId, index }, () => core.process(jobId, index));
    },

    async submitResult(
      jobId: string,
      index: number,
      resultDigest: string,
      fuelUsed: Amount,
    ): Promise<TxResult> {
      const s = await getSubJob(jobId, index);
      if (
        (s.status === SubJobStatus.Submitted || s.status === SubJobStatus.Verified) &&
        same(s.node, await self())
      ) {
        if (s.resultDigest !== resultDigest)
          throw new ChainStateError(
            `SubJob ${jobId}#${index} was submitted with another digest ${s.resultDigest}`,
          );
        return done('submit', { jobId, index });
      }
      return send('submit', { jobId, index, fuelUsed: String(fuelUsed) }, () =>
        core.submit(jobId, index, resultDigest, BigInt(fuelUsed)),
      );
    },

    async verifySubJob(jobId: string, index: number): Promise<TxResult> {
      const s = await getSubJob(jobId, index);
      if (s.status === SubJobStatus.Verified) return done('verify', { jobId, index });
      return send('verify', { jobId, index }, () => core.verify(jobId, index));
    },

    /** `attempt`: the SubJob's retries when the node decided to decline. */
    declineSubJob: (jobId: string, index: number, attempt: number) =>
      penaltyAction('decline', jobId, index, attempt, [SubJobStatus.Processing]),
    /** `attempt`: the SubJob's retries when the verifier judged the result. */
    rejectSubJob: (jobId: string, index: number, attempt: number) =>
      penaltyAction('reject', jobId, index, attempt, [SubJobStatus.Submitted]),
    /** `attempt`: the SubJob's retries when the verifier found it overdue. */
    timeoutSubJob: (jobId: string, index: number, attempt: number) =>
      penaltyAction('timeout', jobId, index, attempt, [SubJobStatus.Processing, SubJobStatus.Open]),

    // ─────────────── L2 deposits

    /** Tops the caller's deposit up to `target` (idempotent: a retry deposits nothing more). */
    async ensureDeposit(target: Amount): Promise<TxResult & { deposited: string }> {
      const d = await core.getDeposit(await self());
      const missing = BigInt(target) - (d.balance as bigint);
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

    // ─────────────── tickets

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
      const flags = await Promise.all(wanted.map((i) => core.isRedeemed(batch.root, i) as Promise<boolean>));
      const todo = wanted.filter((_, k) => !flags[k]);
      const skipped = wanted.filter((_, k) => flags[k]);
      if (todo.length === 0) return { ...done('redeem', { root: batch.root }), redeemed: [], skipped };
      const args = [batch.batchId, batch.root, batch.total];
      const fields = { root: batch.root, batchId: input.batch.batchId, count: todo.length };
      let r: TxResult;
      if (todo.length === 1) {
        const i = todo[0]!;
        r = await send('redeem', fields, () =>
          core.redeem(args, input.signature, tree.tickets[i], i, tree.proof(i)),
        );
      } else {
        const mp = tree.multiProof(todo);
        r = await send('redeemMany', fields, () =>
          core.redeemMany(args, input.signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
        );
      }
      return { ...r, redeemed: todo, skipped };
    },
  };
}

export type ChainActivities = ReturnType<typeof createChainActivities>;
