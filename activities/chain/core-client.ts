/**
 * The EMETH Core client the L2 server uses: its reads (free deposit, free stake, redemptions) and
 * its writes as the L2's role holder (penalties), typed by TypeChain's bindings. Behind an
 * interface so unit tests can fake it. Writes are idempotent by the id they carry, so a Temporal
 * retry after a lost response never burns twice; a revert is a ContractRevertError naming the rule.
 */
import { id as keccakText, type ContractRunner } from 'ethers';
import { explainRevert } from '../../contracts/errors';
import { emethCore } from '../../contracts/typed';

export interface EmethCoreClient {
  /** Deposit the requester may still reserve against (balance − pending withdrawal), in holon. */
  freeDeposit(requester: string): Promise<bigint>;
  /** Stake a node has on EmethCore and can still lose (stake − locked), in holon. */
  stakeOf(node: string): Promise<bigint>;
  /** Burns `amount` of the node's stake once per `reason` (a retried call is a no-op). Returns the tx hash. */
  penalize(node: string, amount: bigint, reason: string): Promise<string | undefined>;
  isRedeemed(root: string, index: number): Promise<boolean>;
}

/** The name the L2 activities know the client by. */
export type L2Chain = EmethCoreClient;

/** `runner` must be able to send (a Signer) for the writes; a Provider is enough for the reads. */
export function createEmethCoreClient(coreAddress: string, runner: ContractRunner): EmethCoreClient {
  const core = emethCore(coreAddress, runner);

  async function sent(action: string, call: () => Promise<{ hash: string; wait(): Promise<unknown> }>) {
    try {
      const tx = await call();
      await tx.wait();
      return tx.hash;
    } catch (err) {
      throw explainRevert(err, action);
    }
  }

  return {
    freeDeposit: (requester) => core.freeDeposit(requester),
    async stakeOf(node) {
      const n = await core.getNode(node);
      return n.stake - n.locked;
    },
    async penalize(node, amount, reason) {
      if (amount === 0n) return undefined;
      const reasonId = keccakText(reason);
      if (await core.penaltyApplied(reasonId)) return undefined;
      return sent('penalize', () => core.penalize(node, amount, reasonId));
    },
    isRedeemed: (root, index) => core.isRedeemed(root, index),
  };
}

/** The factory under the name the L2 server calls today. */
export const createL2Chain = createEmethCoreClient;
