/**
 * EmethMining from the L2: its schedule (read once: genesis and epochLength are immutable), an
 * epoch as posted, the poster's one write (`postEpoch`) and the claim bit the gateway shows. Behind
 * an interface so the activities can be tested without a chain.
 */
import type { ContractRunner } from 'ethers';
import { explainRevert } from '../../contracts/errors';
import { emethMining } from '../../contracts/typed';

export interface MiningSchedule {
  /** Start of epoch 0, unix seconds. */
  genesis: number;
  /** Seconds per epoch. */
  epochLength: number;
}

export interface ChainMiningEpoch {
  posted: boolean;
  root: string;
  totalFuel: bigint;
  /** Holon allocated at posting. */
  pool: bigint;
  /** Unix seconds; claims are accepted before it. */
  claimDeadline: number;
}

export interface MiningChain {
  /** The contract's address. */
  address: string;
  schedule(): Promise<MiningSchedule>;
  epoch(epoch: number): Promise<ChainMiningEpoch>;
  /** Sends `postEpoch` (EPOCH_POSTER_ROLE) and waits for it; returns the transaction hash. */
  postEpoch(epoch: number, root: string, totalFuel: bigint): Promise<string>;
  /** The hash of the transaction that posted `epoch` (its EpochPosted log), when one is found. */
  postedTx(epoch: number): Promise<string | undefined>;
  hasClaimed(epoch: number, node: string): Promise<boolean>;
  /** Whether `address` holds EPOCH_POSTER_ROLE. */
  isPoster(address: string): Promise<boolean>;
}

/**
 * `runner` must be a Signer holding EPOCH_POSTER_ROLE for `postEpoch` — the L2 passes the same
 * SerialSigner its EmethCore client sends with, so the two never race for a nonce; a Provider is
 * enough for the reads. `fromBlock` bounds the log search of `postedTx` (the deployment's block).
 */
export function createMiningChain(
  address: string,
  runner: ContractRunner,
  opts: { fromBlock?: number } = {},
): MiningChain {
  const mining = emethMining(address, runner);
  let schedule: Promise<MiningSchedule> | undefined;
  return {
    address,
    schedule() {
      schedule ??= Promise.all([mining.genesis(), mining.epochLength()]).then(([g, l]) => ({
        genesis: Number(g),
        epochLength: Number(l),
      }));
      // A failed read is not cached.
      return schedule.catch((err) => {
        schedule = undefined;
        throw err;
      });
    },
    async epoch(epoch) {
      const e = await mining.getEpoch(epoch);
      return {
        posted: e.posted,
        root: e.root,
        totalFuel: e.totalFuel,
        pool: e.pool,
        claimDeadline: Number(e.claimDeadline),
      };
    },
    async postEpoch(epoch, root, totalFuel) {
      try {
        const tx = await mining.postEpoch(epoch, root, totalFuel);
        const receipt = await tx.wait();
        if (!receipt || receipt.status !== 1) throw new Error(`postEpoch(${epoch}) was mined but reverted`);
        return receipt.hash;
      } catch (err) {
        throw explainRevert(err, `postEpoch(${epoch})`, 'EmethMining');
      }
    },
    async postedTx(epoch) {
      const logs = await mining.queryFilter(mining.filters.EpochPosted(epoch), opts.fromBlock ?? 0);
      return logs[0]?.transactionHash;
    },
    hasClaimed: (epoch, node) => mining.hasClaimed(epoch, node),
    async isPoster(who) {
      return mining.hasRole(await mining.EPOCH_POSTER_ROLE(), who);
    },
  };
}
