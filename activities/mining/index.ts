/**
 * The GPU Mining Program on the L2 (paper §3-4, contracts/EmethMining.sol): once an epoch has
 * ended, the verified fuel of each node in it (activities/mining/fuel) becomes a leaf
 * (node, epoch, fuel) of OpenZeppelin's StandardMerkleTree; the root and the total fuel are posted
 * on EmethMining and each node's proof is stored for GET /v1/nodes/:address/rewards.
 *
 * Rules this module decides (the contract cannot see them):
 * - Epochs are posted oldest first, each once it has ended, on the wall clock the database stamps
 *   verdicts with (the chain's clock is expected to agree; the contract refuses an epoch that has
 *   not ended on its own clock, and the post is retried).
 * - An epoch with no verified, ticketed work is not posted at all: posting it would allocate
 *   nothing (EmethMining leaves a zero-fuel epoch's emission unallocated), so skipping it saves a
 *   transaction and changes no balance.
 * - A run verified in an epoch is ticketed a few activities later; while such a run has no ticket
 *   and its Job is still open the epoch waits (`wait`), at most one epoch length past its end, then
 *   is posted with what was ticketed.
 * - Idempotent: the tree is stored before the transaction is sent and a retry posts the stored
 *   tree; an epoch already on chain (a lost response) is recorded, not sent again.
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import { big } from '../../prisma/ledger';
import type { MiningActivities, MiningEpochPosted } from '../../workflows/mining';
import type { MiningChain, MiningSchedule } from './chain';
import { verifiedWorkIn } from './fuel';

export { createMiningChain, type ChainMiningEpoch, type MiningChain, type MiningSchedule } from './chain';
export { verifiedWorkIn, type WindowWork } from './fuel';

/** The leaf encoding EmethMining.leaf checks: (node, epoch, fuel). */
export const MINING_LEAF_ENCODING = ['address', 'uint256', 'uint256'] as const;

export interface MiningDeps {
  prisma: PrismaClient;
  /** EmethMining, sending as an EPOCH_POSTER_ROLE holder; absent: the deployment has none. */
  mining?: MiningChain;
  logger: Logger;
  /** Milliseconds since the unix epoch (tests move it). */
  now?: () => number;
}

/** The tree of one epoch: its root, total fuel and each node's proof. */
export function miningTree(epoch: number, fuel: ReadonlyMap<string, bigint>) {
  const leaves = [...fuel.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([node, f]) => [node, BigInt(epoch), f] as [string, bigint, bigint]);
  const tree = StandardMerkleTree.of(leaves, [...MINING_LEAF_ENCODING]);
  const proofs = new Map<string, string[]>();
  for (const [i, [node]] of tree.entries()) proofs.set(node, tree.getProof(i));
  const totalFuel = leaves.reduce((s, [, , f]) => s + f, 0n);
  return { root: tree.root, totalFuel, proofs };
}

export function createMiningActivities(deps: MiningDeps): MiningActivities {
  const { prisma, logger } = deps;
  const now = deps.now ?? Date.now;
  const startOf = (s: MiningSchedule, epoch: number) => new Date((s.genesis + epoch * s.epochLength) * 1000);

  function posted(row: {
    epoch: number;
    root: string;
    totalFuel: { toFixed(n: number): string };
    pool: { toFixed(n: number): string } | null;
    txHash: string | null;
    _count: { shares: number };
  }): MiningEpochPosted {
    return {
      epoch: row.epoch,
      root: row.root,
      totalFuel: row.totalFuel.toFixed(0),
      pool: row.pool ? row.pool.toFixed(0) : '0',
      nodes: row._count.shares,
      txHash: row.txHash,
    };
  }

  return {
    async prepareNextMiningEpoch() {
      if (!deps.mining) return { kind: 'disabled' };
      // A tree stored by a run that did not get to post it goes first, unchanged.
      const open = await prisma.miningEpoch.findFirst({
        where: { postedAt: null },
        orderBy: { epoch: 'asc' },
        include: { _count: { select: { shares: true } } },
      });
      if (open)
        return {
          kind: 'ready',
          epoch: open.epoch,
          nodes: open._count.shares,
          totalFuel: open.totalFuel.toFixed(0),
        };

      const s = await deps.mining.schedule();
      const nowMs = now();
      const current = Math.floor((nowMs / 1000 - s.genesis) / s.epochLength);
      if (current <= 0) return { kind: 'none' };
      const last = await prisma.miningEpoch.findFirst({
        orderBy: { epoch: 'desc' },
        select: { epoch: true },
      });
      let from = last ? last.epoch + 1 : 0;
      while (from < current) {
        // The next finished epoch with any valid verdict in it (empty epochs are skipped at once).
        const first = await prisma.verification.findFirst({
          where: { valid: true, createdAt: { gte: startOf(s, from), lt: startOf(s, current) } },
          orderBy: { createdAt: 'asc' },
          select: { createdAt: true },
        });
        if (!first) return { kind: 'none' };
        const epoch = Math.max(
          from,
          Math.floor((first.createdAt.getTime() / 1000 - s.genesis) / s.epochLength),
        );
        const work = await verifiedWorkIn(prisma, startOf(s, epoch), startOf(s, epoch + 1));
        const endMs = startOf(s, epoch + 1).getTime();
        if (work.pending > 0) {
          if (nowMs < endMs + Math.max(s.epochLength * 1000, 60_000)) {
            logger.info(
              { epoch, pending: work.pending },
              'mining epoch waits for verified runs to be ticketed',
            );
            return { kind: 'wait', epoch, retryInMs: Math.min(Math.max(s.epochLength * 100, 1_000), 30_000) };
          }
          logger.warn(
            { epoch, pending: work.pending },
            'mining epoch posted without runs still unticketed one epoch after its end',
          );
        }
        if (work.fuel.size === 0) {
          from = epoch + 1;
          continue;
        }
        const tree = miningTree(epoch, work.fuel);
        try {
          await prisma.miningEpoch.create({
            data: {
              epoch,
              root: tree.root,
              totalFuel: tree.totalFuel.toString(),
              shares: {
                create: [...work.fuel].map(([node, fuel]) => ({
                  node,
                  fuel: fuel.toString(),
                  proof: tree.proofs.get(node)!,
                })),
              },
            },
          });
        } catch (err) {
          // Another run stored this epoch first: its tree is the one to post.
          if ((err as { code?: string }).code !== 'P2002') throw err;
        }
        const stored = await prisma.miningEpoch.findUniqueOrThrow({
          where: { epoch },
          include: { _count: { select: { shares: true } } },
        });
        logger.info(
          { epoch, root: stored.root, totalFuel: stored.totalFuel.toFixed(0), nodes: stored._count.shares },
          'mining epoch prepared',
        );
        return {
          kind: 'ready',
          epoch,
          nodes: stored._count.shares,
          totalFuel: stored.totalFuel.toFixed(0),
        };
      }
      return { kind: 'none' };
    },

    async postMiningEpoch({ epoch }) {
      if (!deps.mining) throw new Error('this deployment has no EmethMining contract');
      const mining = deps.mining;
      const row = await prisma.miningEpoch.findUniqueOrThrow({
        where: { epoch },
        include: { _count: { select: { shares: true } } },
      });
      if (row.postedAt) return posted(row);

      let chain = await mining.epoch(epoch);
      let txHash: string | undefined;
      if (!chain.posted) {
        try {
          txHash = await mining.postEpoch(epoch, row.root, big(row.totalFuel));
        } catch (err) {
          // Posted meanwhile (a lost response, a concurrent run): what is on chain decides.
          chain = await mining.epoch(epoch);
          if (!chain.posted) throw err;
        }
        chain = await mining.epoch(epoch);
      }
      txHash ??= await mining.postedTx(epoch);
      const onChain = {
        pool: chain.pool.toString(),
        claimDeadline: new Date(chain.claimDeadline * 1000),
        txHash: txHash ?? null,
        postedAt: new Date(),
      };
      if (chain.root.toLowerCase() !== row.root.toLowerCase() || chain.totalFuel !== big(row.totalFuel)) {
        // Not our tree (a database restored without its chain): our proofs prove nothing there, so
        // the epoch is recorded as the chain has it, without shares, and the next one goes on.
        logger.error(
          { epoch, ours: row.root, onChain: chain.root, totalFuel: chain.totalFuel.toString() },
          'mining epoch was posted on chain with another root; its shares here are dropped',
        );
        const [, updated] = await prisma.$transaction([
          prisma.miningShare.deleteMany({ where: { epoch } }),
          prisma.miningEpoch.update({
            where: { epoch },
            data: { ...onChain, root: chain.root, totalFuel: chain.totalFuel.toString() },
            include: { _count: { select: { shares: true } } },
          }),
        ]);
        return posted(updated);
      }
      const updated = await prisma.miningEpoch.update({
        where: { epoch },
        data: onChain,
        include: { _count: { select: { shares: true } } },
      });
      logger.info(
        { epoch, root: row.root, totalFuel: row.totalFuel.toFixed(0), pool: onChain.pool, txHash },
        'mining epoch posted',
      );
      return posted(updated);
    },
  };
}
