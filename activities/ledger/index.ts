/**
 * The Ledger: a Job's reservation of its requester's deposit, and its settlement — one ticket per
 * verified SubJob (fuel × price to the node, the fee share to its verifier), the rest released.
 * Every entry is keyed by the Job, so a retried activity never reserves or charges twice.
 */
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { LedgerActivities } from '../../lib/pipeline';
import { hashTicket, type Ticket } from '../../lib/tickets';
import { big, withRequesterLock } from '../../prisma/ledger';
import type { L2Chain } from '../pipeline/l2-chain';
import { loadJob, refuse } from '../shared/job-rows';
import { freeToCommit } from './free-deposit';

export interface LedgerDeps {
  prisma: PrismaClient;
  chain: Pick<L2Chain, 'freeDeposit'>;
  logger: Logger;
}

export function createLedgerActivities(deps: LedgerDeps): LedgerActivities {
  const { prisma, logger } = deps;

  /** The tickets a Job's verified SubJobs earned, each paying its node and the verifier that passed it. */
  async function ticketsOf(j: Awaited<ReturnType<typeof loadJob>>): Promise<Ticket[]> {
    const verified = await prisma.subJob.findMany({
      where: { jobId: j.id, status: 'verified' },
      orderBy: { index: 'asc' },
    });
    const tickets: Ticket[] = [];
    for (const s of verified) {
      const verdict = await prisma.verification.findFirstOrThrow({
        where: { subJobId: s.id, valid: true },
        orderBy: { createdAt: 'desc' },
      });
      tickets.push({
        jobId: j.id,
        subJobId: s.id,
        node: s.nodeId!,
        requester: j.requester,
        amount: big(s.fuelUsed) * big(j.fuelPrice),
        verifier: verdict.verifier,
        verifierFee: big(s.verifierFee),
      });
    }
    return tickets;
  }

  const entry = (j: { id: string; requester: string }, kind: string, amount: bigint) =>
    prisma.ledgerEntry.upsert({
      where: { id: `${j.id}:${kind}` },
      create: { id: `${j.id}:${kind}`, requester: j.requester, jobId: j.id, kind, amount: amount.toString() },
      update: {},
    });

  return {
    async reserveJob(jobId) {
      const j = await loadJob(prisma, jobId);
      const existing = await prisma.ledgerEntry.findUnique({ where: { id: `${jobId}:reserve` } });
      if (existing) return { reserved: existing.amount.toFixed(0) };
      const amount = big(j.fuelLimit) * big(j.fuelPrice) + big(j.verifierFee);
      // Serialised per requester with the gateway's admission of new Jobs (the same lock).
      await withRequesterLock(prisma, j.requester, async (tx) => {
        if (await tx.ledgerEntry.findUnique({ where: { id: `${jobId}:reserve` } })) return;
        const free = await freeToCommit({ prisma: tx, chain: deps.chain }, j.requester, jobId);
        if (free < amount) {
          refuse(
            `the requester's free deposit (${free} holon) does not cover this Job (${amount} holon): deposit more on EmethCore`,
          );
        }
        await tx.ledgerEntry.create({
          data: {
            id: `${jobId}:reserve`,
            requester: j.requester,
            jobId,
            kind: 'reserve',
            amount: amount.toString(),
          },
        });
        await tx.job.update({ where: { id: jobId }, data: { reserved: amount.toString() } });
      });
      logger.info({ jobId, reserved: amount.toString() }, 'deposit reserved');
      return { reserved: amount.toString() };
    },

    async settleJob(jobId, status, reason) {
      const j = await loadJob(prisma, jobId);
      const settled = await prisma.ledgerEntry.findUnique({ where: { id: `${jobId}:charge` } });
      if (settled) return { charged: j.charged.toFixed(0), refunded: j.refunded.toFixed(0) };
      const reserved = big(j.reserved);
      const tickets = await ticketsOf(j);
      const charged = tickets.reduce((a, t) => a + t.amount + t.verifierFee, 0n);
      const released = reserved - charged;
      if (released < 0n)
        throw new Error(`Job ${jobId} would charge ${charged} holon but reserved only ${reserved}`);
      await prisma.$transaction([
        ...tickets.map((t) =>
          prisma.ticket.upsert({
            where: { subJobId: t.subJobId },
            create: {
              id: hashTicket(t),
              jobId,
              subJobId: t.subJobId,
              node: t.node,
              requester: t.requester,
              amount: t.amount.toString(),
              verifier: t.verifier,
              verifierFee: t.verifierFee.toString(),
            },
            update: {},
          }),
        ),
        entry(j, 'charge', charged),
        entry(j, 'release', released),
        prisma.subJob.updateMany({
          where: { jobId, status: { notIn: ['verified', 'failed'] } },
          data: { status: 'cancelled' },
        }),
        prisma.job.update({
          where: { id: jobId },
          data: {
            charged: charged.toString(),
            refunded: released.toString(),
            status,
            ...(reason ? { reason } : {}),
          },
        }),
      ]);
      logger.info(
        {
          jobId,
          status,
          charged: charged.toString(),
          refunded: released.toString(),
          tickets: tickets.length,
        },
        'Job settled',
      );
      return { charged: charged.toString(), refunded: released.toString() };
    },
  };
}
