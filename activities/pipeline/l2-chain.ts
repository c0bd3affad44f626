import { Contract, id as keccakText, type ContractRunner, type Provider } from 'ethers';
import { loadArtifact } from '../../contracts/artifacts';

/** The chain calls the L2 server makes, behind an interface so unit tests can fake them. */
export interface L2Chain {
  /** Deposit not earmarked for withdrawal, in holon. */
  freeDeposit(requester: string): Promise<bigint>;
  /** Stake a node has on EmethCore and can still lose (stake − locked), in holon. */
  stakeOf(node: string): Promise<bigint>;
  /** Burns `amount` of the node's stake once per `reason` (a retried call is a no-op). Returns the tx hash. */
  penalize(node: string, amount: bigint, reason: string): Promise<string | undefined>;
  isRedeemed(root: string, index: number): Promise<boolean>;
}

export function createL2Chain(
  coreAddress: string,
  runner: ContractRunner & { provider: Provider | null },
): L2Chain {
  const core = new Contract(coreAddress, loadArtifact('EmethCore').abi, runner);
  return {
    async freeDeposit(requester) {
      return (await core.getFunction('freeDeposit')(requester)) as bigint;
    },
    async stakeOf(node) {
      const n = (await core.getFunction('getNode')(node)) as { stake: bigint; locked: bigint };
      return n.stake - n.locked;
    },
    async penalize(node, amount, reason) {
      if (amount === 0n) return undefined;
      const reasonId = keccakText(reason);
      if ((await core.getFunction('penaltyApplied')(reasonId)) as boolean) return undefined;
      const tx = await core.getFunction('penalize')(node, amount, reasonId);
      await tx.wait();
      return tx.hash as string;
    },
    async isRedeemed(root, index) {
      return (await core.getFunction('isRedeemed')(root, index)) as boolean;
    },
  };
}
