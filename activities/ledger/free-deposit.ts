import { big, committedDeposit, type LedgerReader } from '../../prisma/ledger';

/**
 * Holon a requester can still commit: the on-chain free deposit, less what the L2 already committed
 * (open reservations, unredeemed tickets) and less what was admitted but not reserved yet (Jobs
 * submitted, deployments deploying, leases pending: each budget a Commit the L2 will relay), so
 * that two quick submissions of any kind cannot both spend the same deposit. The one computation
 * the gateway (at admission) and the reservations (`exceptJob` being the one reserving) all use.
 */
export async function freeToCommit(
  deps: { prisma: LedgerReader; chain: { freeDeposit(requester: string): Promise<bigint> } },
  requester: string,
  exceptJob?: string,
): Promise<bigint> {
  const { prisma } = deps;
  const who = requester.toLowerCase();
  // Read in the order a Job moves (submitted → reserved in the ledger → committed on chain), one
  // after the other: a Job that moves on between two reads is then counted twice (a refusal at
  // worst), never zero times (two Jobs spending one deposit). Reading them at once let a Job
  // reserved, or committed, between the reads escape every term.
  const notThis = exceptJob ? { NOT: { id: exceptJob } } : {};
  const admitted: { id: string; amount: bigint }[] = [
    ...(
      await prisma.job.findMany({
        where: { requester: who, status: 'submitted', ...notThis },
        select: { id: true, fuelLimit: true, fuelPrice: true, verifierFee: true },
      })
    ).map((j) => ({ id: j.id, amount: big(j.fuelLimit) * big(j.fuelPrice) + big(j.verifierFee) })),
    ...(
      await prisma.deployment.findMany({
        where: { requester: who, status: 'deploying', ...notThis },
        select: { id: true, budget: true },
      })
    ).map((d) => ({ id: d.id, amount: big(d.budget) })),
    ...(
      await prisma.lease.findMany({
        where: { requester: who, status: 'pending', ...notThis },
        select: { id: true, budget: true },
      })
    ).map((l) => ({ id: l.id, amount: big(l.budget) })),
  ];
  const reserved = new Set(
    (
      await prisma.ledgerEntry.findMany({
        where: { jobId: { in: admitted.map((a) => a.id) }, kind: 'reserve' },
        select: { jobId: true },
      })
    ).map((l) => l.jobId),
  );
  const unreserved = admitted.filter((a) => !reserved.has(a.id)).reduce((sum, a) => sum + a.amount, 0n);
  const committed = await committedDeposit(prisma, who, exceptJob);
  const onChain = await deps.chain.freeDeposit(requester);
  return onChain - committed - unreserved;
}
