import { big, committedDeposit, type LedgerReader } from '../../prisma/ledger';

/**
 * Holon a requester can still commit: the on-chain free deposit, less what the L2 already committed
 * (open reservations, unredeemed tickets) and less Jobs submitted but not reserved yet, so that two
 * quick submissions cannot both spend the same deposit. The one computation the gateway (at submit)
 * and the Ledger (at reserve, `exceptJob` being the Job reserving) both use.
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
  const submitted = await prisma.job.findMany({
    where: { requester: who, status: 'submitted', ...(exceptJob ? { NOT: { id: exceptJob } } : {}) },
    select: { id: true, fuelLimit: true, fuelPrice: true, verifierFee: true },
  });
  const reserved = new Set(
    (
      await prisma.ledgerEntry.findMany({
        where: { jobId: { in: submitted.map((j) => j.id) }, kind: 'reserve' },
        select: { jobId: true },
      })
    ).map((l) => l.jobId),
  );
  const unreserved = submitted
    .filter((j) => !reserved.has(j.id))
    .reduce((sum, j) => sum + big(j.fuelLimit) * big(j.fuelPrice) + big(j.verifierFee), 0n);
  const committed = await committedDeposit(prisma, who, exceptJob);
  const onChain = await deps.chain.freeDeposit(requester);
  return onChain - committed - unreserved;
}
