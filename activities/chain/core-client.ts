/**
 * The EMETH Core client the L2 server uses: its reads (free deposit, free stake, commitments,
 * redemptions) and its writes as the holder of L2_SERVER_ROLE (commitments, per-attempt stake
 * locks, penalties), typed by TypeChain's bindings. Behind an interface so unit tests can fake it.
 *
 * Every write reads first and returns `undefined` (nothing sent) when its effect is already on
 * chain, and the contract repeats none either, so a Temporal retry after a lost response never
 * commits, locks or burns twice. A revert is a ContractRevertError naming the rule. Sends go
 * through one SerialSigner, so concurrent activities never collide on a nonce.
 *
 * Attempt keys: an attempt's stake lock and its penalty share one id, so a penalty takes from the
 * lock of its own attempt. Pass the same string as `attempt` to `lockStake`/`releaseStake`/
 * `stakeOf` and as `reason` to `penalize` (the L2 uses `emeth:penalty:<attemptId>`).
 */
import { AbstractSigner, NonceManager, id as keccakText, type ContractRunner } from 'ethers';
import { explainRevert } from '../../contracts/errors';
import { SerialSigner } from '../../contracts/serial-signer';
import { emethCore } from '../../contracts/typed';
import type { Commit } from './commitments';

export interface ChainCommitment {
  /** What the Job may spend in all (lowered to what was ticketed at settlement). */
  amount: bigint;
  /** Redeemed so far. */
  spent: bigint;
  /** Unix seconds; after it the requester may reclaim amount − spent. */
  deadline: number;
  settled: boolean;
}

export interface ChainStakeLock {
  node: string;
  amount: bigint;
  /** Released, or taken by the attempt's penalty. */
  closed: boolean;
}

export interface EmethCoreClient {
  /** Deposit the L2 may still commit (balance − committed − pending withdrawal), in holon. */
  freeDeposit(requester: string): Promise<bigint>;
  /**
   * Stake a node can still lose (stake − locked), in holon; with `attempt`, counting that
   * attempt's own open lock too (what its penalty can take).
   */
  stakeOf(node: string, attempt?: string): Promise<bigint>;
  /** Burns `amount` of the node's stake once per `reason` (a retried call is a no-op). Returns the tx hash. */
  penalize(node: string, amount: bigint, reason: string): Promise<string | undefined>;
  /**
   * Fines `node` `amount` of its stake once per `reason` for a proven lie, adding EmethCore's
   * `proverShare` of it to the stake of `prover` (the verifier or honest replica that proved it)
   * and burning the rest. Returns the tx hash; a retried call is a no-op.
   */
  fine(node: string, amount: bigint, reason: string, prover: string): Promise<string | undefined>;
  isRedeemed(root: string, index: number): Promise<boolean>;

  /** Commits a requester's deposit to a Job with the requester's signed `Commit`. */
  commit(commit: Commit, signature: string): Promise<string | undefined>;
  /** Lowers a Job's commitment to `total`, the sum of every ticket issued for it, freeing the rest. */
  settleCommitment(requester: string, jobId: string, total: bigint): Promise<string | undefined>;
  /** The Job's commitment, or null if none was made. */
  commitmentOf(requester: string, jobId: string): Promise<ChainCommitment | null>;
  /** Holds back `amount` (the attempt's worst-case penalty) of the node's free stake. */
  lockStake(node: string, attempt: string, amount: bigint): Promise<string | undefined>;
  /** Gives an attempt's lock back (no-op when the attempt had none or it is closed already). */
  releaseStake(attempt: string): Promise<string | undefined>;
  stakeLockOf(attempt: string): Promise<ChainStakeLock | null>;
}

/** The name the L2 activities know the client by. */
export type L2Chain = EmethCoreClient;

/** The bytes32 id EmethCore files an attempt's lock and penalty under. */
export const attemptKeyId = (attempt: string): string => keccakText(attempt);

const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

/** ethers' NonceManager burns nonces on failed estimates: send through a SerialSigner instead. */
function serialized(runner: ContractRunner): ContractRunner {
  const inner = runner instanceof NonceManager ? runner.signer : runner;
  if (inner instanceof SerialSigner || !(inner instanceof AbstractSigner)) return inner;
  return new SerialSigner(inner);
}

/** `runner` must be a Signer (holding L2_SERVER_ROLE) for the writes; a Provider is enough for the reads. */
export function createEmethCoreClient(coreAddress: string, runner: ContractRunner): EmethCoreClient {
  const core = emethCore(coreAddress, serialized(runner));

  async function sent(action: string, call: () => Promise<{ hash: string; wait(): Promise<unknown> }>) {
    try {
      const tx = await call();
      await tx.wait();
      return tx.hash;
    } catch (err) {
      throw explainRevert(err, action);
    }
  }

  async function commitmentOf(requester: string, jobId: string): Promise<ChainCommitment | null> {
    const m = await core.getCommitment(requester, jobId);
    if (m.deadline === 0n) return null;
    return { amount: m.amount, spent: m.spent, deadline: Number(m.deadline), settled: m.settled };
  }

  async function stakeLockOf(attempt: string): Promise<ChainStakeLock | null> {
    const l = await core.getStakeLock(attemptKeyId(attempt));
    if (l.node === ZERO_ADDRESS) return null;
    return { node: l.node, amount: l.amount, closed: l.closed };
  }

  return {
    freeDeposit: (requester) => core.freeDeposit(requester),
    async stakeOf(node, attempt) {
      const [n, lock] = await Promise.all([core.getNode(node), attempt ? stakeLockOf(attempt) : null]);
      const own = lock && !lock.closed && lock.node.toLowerCase() === node.toLowerCase() ? lock.amount : 0n;
      return n.stake - n.locked + own;
    },
    async penalize(node, amount, reason) {
      if (amount === 0n) return undefined;
      const reasonId = attemptKeyId(reason);
      if (await core.penaltyApplied(reasonId)) return undefined;
      return sent('penalize', () => core.penalize(node, amount, reasonId));
    },
    async fine(node, amount, reason, prover) {
      if (amount === 0n) return undefined;
      const reasonId = attemptKeyId(reason);
      if (await core.penaltyApplied(reasonId)) return undefined;
      return sent('fine', () => core.fine(node, amount, reasonId, prover));
    },
    isRedeemed: (root, index) => core.isRedeemed(root, index),

    async commit(c, signature) {
      const existing = await commitmentOf(c.requester, c.jobId);
      if (existing && existing.amount === c.amount && BigInt(existing.deadline) === c.deadline)
        return undefined;
      return sent('commit', () => core.commit(c, signature));
    },
    async settleCommitment(requester, jobId, total) {
      const existing = await commitmentOf(requester, jobId);
      if (existing?.settled && existing.amount === total) return undefined;
      return sent('settleCommitment', () => core.settleCommitment(requester, jobId, total));
    },
    commitmentOf,
    async lockStake(node, attempt, amount) {
      if (amount === 0n) return undefined;
      const lock = await stakeLockOf(attempt);
      if (lock && lock.node.toLowerCase() === node.toLowerCase() && lock.amount === amount) return undefined;
      return sent('lockStake', () => core.lockStake(node, attemptKeyId(attempt), amount));
    },
    async releaseStake(attempt) {
      const lock = await stakeLockOf(attempt);
      if (!lock || lock.closed) return undefined;
      return sent('releaseStake', () => core.releaseStake(attemptKeyId(attempt)));
    },
    stakeLockOf,
  };
}

/** The factory under the name the L2 server calls today. */
export const createL2Chain = createEmethCoreClient;
