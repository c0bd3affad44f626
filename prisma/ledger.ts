import type { Ticket } from '../lib/tickets';
import type { Prisma, PrismaClient } from './client';

/** What the money computations read: the client itself or an open transaction on it. */
export type LedgerReader = Pick<PrismaClient, 'ledgerEntry' | 'ticket' | 'job' | 'deployment' | 'lease'>;

/**
 * Runs `fn` in a transaction that holds the requester's advisory lock until it ends, so that two
 * reservations of one requester's deposit (at the gateway, at the Ledger) never interleave their
 * read of the free deposit with their write of the commitment.
 */
export function withRequesterLock<T>(
  prisma: PrismaClient,
  requester: string,
  fn: (tx: Prisma.TransactionClient) => Promise<T>,
): Promise<T> {
  return prisma.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`emeth:requester:${requester.toLowerCase()}`}, 0))`;
      return fn(tx);
    },
    { timeout: 15_000, maxWait: 15_000 },
  );
}

/** A holon amount column as a bigint (0 for null). */
export const big = (d: Prisma.Decimal | null | undefined): bigint => (d ? BigInt(d.toFixed(0)) : 0n);

/** A Ticket row as the signed ticket it stands for (what the Merkle tree and EmethCore hash). */
export function ticketOfRow(t: {
  jobId: string;
  subJobId: string;
  node: string;
  requester: string;
  amount: Prisma.Decimal;
  verifier: string;
  verifierFee: Prisma.Decimal;
}): Ticket {
  return {
    jobId: t.jobId,
    subJobId: t.subJobId,
    node: t.node,
    requester: t.requester,
    amount: big(t.amount),
    verifier: t.verifier,
    verifierFee: big(t.verifierFee),
  };
}

/**
 * Holon of a requester's deposit the L2 has promised that EmethCore does not see yet: reservations
 * of Jobs whose Commit has not landed on chain (EmethCore's `freeDeposit` already excludes every
 * landed commitment, tickets included until they are redeemed), plus unredeemed tickets of Jobs
 * from before commitments. The requester can still commit `EmethCore.freeDeposit − this`. The
 * gateway and the Ledger both use it (activities/ledger/free-deposit).
 */
export async function committedDeposit(
  prisma: LedgerReader,
  requester: string,
  exceptJob?: string,
): Promise<bigint> {
  const who = requester.toLowerCase();
  const onChain = // A committed L2 Job, and an L1 Job whose escrow left the deposit: EmethCore counts both.
    (
      await prisma.ledgerEntry.findMany({
        where: { requester: who, kind: { in: ['commit', 'l1-escrow'] } },
        select: { jobId: true },
      })
    ).map((e) => e.jobId);
  const offChain = { notIn: [...onChain, ...(exceptJob ? [exceptJob] : [])] };
  const [ledger, pending] = await Promise.all([
    prisma.ledgerEntry.groupBy({
      by: ['kind'],
      where: { requester: who, jobId: offChain },
      _sum: { amount: true },
    }),
    prisma.ticket.aggregate({
      where: { requester: who, redeemedAt: null, jobId: offChain },
      _sum: { amount: true, verifierFee: true },
    }),
  ]);
  const sum = (kind: string) => big(ledger.find((l) => l.kind === kind)?._sum.amount);
  return (
    sum('reserve') - sum('charge') - sum('release') + big(pending._sum.amount) + big(pending._sum.verifierFee)
  );
}
