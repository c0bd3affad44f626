/**
 * The Ledger: a Job's reservation of its requester's deposit, and its settlement — per verified
 * SubJob a ticket to its node (fuel × price) and one to its verifier (the fee share), each redeemed
 * by the party it pays, the rest released. Every entry is keyed by the Job (a ticket by its SubJob
 * and payee), so a retried activity never reserves or charges twice.
 */
import type { Prisma, PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { LedgerActivities } from '../../lib/pipeline';
import { hashTicket, subJobTickets, type Ticket, type TicketRole } from '../../lib/tickets';
import { big, ticketOfRow, withRequesterLock } from '../../prisma/ledger';
import type { L2Chain } from '../chain';
import type { L1Activities } from '../chain/l1';
import { datasetId32, type L1Request } from '../chain/l1-requests';
import { loadJob, refuse } from '../shared/job-rows';
import { freeToCommit } from './free-deposit';
import { SubJobStatus } from '../../lib/types-chain';

export interface LedgerDeps {
  prisma: PrismaClient;
  chain: Pick<L2Chain, 'freeDeposit' | 'commit' | 'settleCommitment'>;
  /** L1 Jobs' escrow: the requester's signed Request relayed to EmethCore, and its SubJobs as paid there. */
  l1?: Pick<L1Activities, 'requestJobFor' | 'getSubJob' | 'getJob'>;
  logger: Logger;
}

/** The Request an L1 Job's requester signed, rebuilt from its row (the gateway checked the signature). */
export function l1RequestOf(j: {
  id: string;
  requester: string;
  programId: number;
  fuelLimit: Prisma.Decimal;
  fuelPrice: Prisma.Decimal;
  deadline: Date;
  dataset: string;
}): L1Request {
  return {
    requester: j.requester,
    jobId: j.id,
    programId: j.programId,
    fuelLimit: big(j.fuelLimit),
    fuelPrice: big(j.fuelPrice),
    deadline: BigInt(Math.floor(j.deadline.getTime() / 1000)),
    dataset: datasetId32(j.dataset),
  };
}

export function createLedgerActivities(deps: LedgerDeps): LedgerActivities {
  const { prisma, logger } = deps;

  /**
   * The tickets a Job's verified SubJobs earned: per SubJob one to its node and one to the verifier
   * that passed it (none for a zero fee), in SubJob order.
   */
  async function ticketsOf(
    j: { id: string; requester: string; fuelPrice: Prisma.Decimal },
    subJobId?: string,
  ): Promise<IssuedTicket[]> {
    // Verified: its result and a valid verdict are recorded (the row's status follows a step later).
    const ticketed = subJobId
      ? []
      : (await prisma.ticket.findMany({ where: { jobId: j.id }, select: { subJobId: true } })).map(
          (t) => t.subJobId,
        );
    const verified = await prisma.subJob.findMany({
      where: subJobId
        ? { id: subJobId, output: { not: null } }
        : { jobId: j.id, OR: [{ status: 'verified' }, { id: { in: ticketed } }] },
      orderBy: { index: 'asc' },
    });
    // A SubJob ticketed before tickets were split holds one combined ticket (role 'node', paying the
    // verifier too): that stays its only ticket, so its verifier is not paid twice.
    const combined = new Map(
      (
        await prisma.ticket.findMany({
          where: { subJobId: { in: verified.map((s) => s.id) }, role: 'node', verifierFee: { gt: 0 } },
        })
      ).map((t) => [t.subJobId, t]),
    );
    const tickets: IssuedTicket[] = [];
    for (const s of verified) {
      const old = combined.get(s.id);
      if (old) {
        tickets.push({ role: 'node', ticket: ticketOfRow(old) });
        continue;
      }
      const verdict = await prisma.verification.findFirstOrThrow({
        where: { subJobId: s.id, valid: true },
        orderBy: { createdAt: 'desc' },
      });
      tickets.push(
        ...subJobTickets({
          jobId: j.id,
          subJobId: s.id,
          node: s.nodeId!,
          requester: j.requester,
          amount: big(s.fuelUsed) * big(j.fuelPrice),
          verifier: verdict.verifier,
          verifierFee: big(s.verifierFee),
        }),
      );
      // A replicated SubJob's second node is paid its own verified run (each run had half the budget).
      for (const r of await replicaRunsOf(s.id, s.nodeId!)) {
        tickets.push({
          role: 'replica',
          ticket: {
            jobId: j.id,
            subJobId: s.id,
            node: r.nodeId,
            requester: j.requester,
            amount: big(r.fuelUsed) * big(j.fuelPrice),
            verifier: r.verifier,
            verifierFee: 0n,
          },
        });
      }
    }
    return tickets;
  }

  /** The verified runs of a SubJob by nodes other than its node of record (its replica), with their verdict's fuel. */
  async function replicaRunsOf(subJobId: string, nodeOfRecord: string) {
    const runs = await prisma.attempt.findMany({
      // A canary's verified run is a check of its node, not work for the requester: never paid.
      where: { subJobId, outcome: 'verified', nodeId: { not: nodeOfRecord }, canary: false },
      orderBy: { attempt: 'asc' },
    });
    const out: { nodeId: string; fuelUsed: Prisma.Decimal; verifier: string }[] = [];
    for (const run of runs.slice(0, 1)) {
      const v = await prisma.verification.findUnique({ where: { id: run.id } });
      if (v?.valid) out.push({ nodeId: run.nodeId, fuelUsed: v.fuelUsed, verifier: v.verifier });
    }
    return out;
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
      if (j.layer === 'l1') return reserveOnL1(j);
      const existing = await prisma.ledgerEntry.findUnique({ where: { id: `${jobId}:commit` } });
      if (existing) return { reserved: existing.amount.toFixed(0) };
      if (!j.commitSignature || j.commitDeadline === null) {
        refuse(
          'the requester signed no Commit for this Job, so its work could not be paid on EmethCore: submit it with `commit` (the CLI and GatewayClient.submitJob sign one)',
        );
      }
      // Committed where EmethCore sees it, with the requester's own signature: from here on a
      // withdrawal cannot take this money, and the Job's tickets are paid from it alone.
      const amount = await reserveAndLock(j, 'commit', "EmethCore refused the Job's commitment", (amount) =>
        deps.chain.commit(
          { requester: j.requester, jobId, amount, deadline: j.commitDeadline! },
          j.commitSignature!,
        ),
      );
      logger.info({ jobId, reserved: amount.toString() }, 'deposit reserved');
      return { reserved: amount.toString() };
    },

    async settleJob(jobId, status, reason) {
      const j = await loadJob(prisma, jobId);
      if (j.layer === 'l1') return settleOnL1(j, status, reason);
      const settled = await prisma.ledgerEntry.findUnique({ where: { id: `${jobId}:charge` } });
      if (settled) {
        await settleOnChain(j, big(j.charged));
        return { charged: j.charged.toFixed(0), refunded: j.refunded.toFixed(0) };
      }
      const reserved = big(j.reserved);
      const tickets = await ticketsOf(j);
      const charged = tickets.reduce((a, { ticket: t }) => a + t.amount + t.verifierFee, 0n);
      const released = reserved - charged;
      if (released < 0n)
        throw new Error(`Job ${jobId} would charge ${charged} holon but reserved only ${reserved}`);
      await prisma.$transaction([
        ...tickets.map((t) => upsertTicket(t)),
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
      await settleOnChain(j, charged);
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

    async issueTicket({ subJobId }) {
      const sub = await prisma.subJob.findUniqueOrThrow({ where: { id: subJobId }, include: { job: true } });
      // An L1 SubJob is paid on chain by its verifier's `verify`: no ticket.
      if (sub.job.layer === 'l1') return;
      const tickets = await ticketsOf(sub.job, subJobId);
      if (tickets.length === 0) refuse(`SubJob ${subJobId} has no verified result to issue a ticket for`);
      await prisma.$transaction(tickets.map((t) => upsertTicket(t)));
      const [node, verifier] = tickets.map((t) => t.ticket);
      logger.info(
        {
          jobId: sub.jobId,
          subJobId,
          nodeId: node!.node,
          amount: node!.amount.toString(),
          ...(verifier ? { verifier: verifier.verifier, verifierFee: verifier.verifierFee.toString() } : {}),
        },
        'tickets issued',
      );
    },
  };

  /**
   * The Job's reservation of its requester's free deposit and, in the same database transaction,
   * the chain step that locks it there (`send`: an L2 commitment or an L1 escrow), recorded as
   * entry `kind`. Serialised per requester with the gateway's admission of new Jobs (the same
   * lock): two Jobs never spend one deposit. Returns the amount (feeLimit + verifierFee).
   */
  async function reserveAndLock(
    j: Awaited<ReturnType<typeof loadJob>>,
    kind: 'commit' | 'l1-escrow',
    refusal: string,
    send: (amount: bigint) => Promise<unknown>,
    lockedAlready?: () => Promise<boolean>,
  ): Promise<bigint> {
    const jobId = j.id;
    const amount = big(j.fuelLimit) * big(j.fuelPrice) + big(j.verifierFee);
    await withRequesterLock(prisma, j.requester, async (tx) => {
      if (await tx.ledgerEntry.findUnique({ where: { id: `${jobId}:reserve` } })) return;
      if (!(await lockedAlready?.())) {
        const free = await freeToCommit({ prisma: tx, chain: deps.chain }, j.requester, jobId);
        if (free < amount) {
          refuse(
            `the requester's free deposit (${free} holon) does not cover this Job (${amount} holon): deposit more on EmethCore`,
          );
        }
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
      try {
        await send(amount);
      } catch (err) {
        refuse(`${refusal}: ${(err as Error).message}`);
      }
      await tx.ledgerEntry.create({
        data: { id: `${jobId}:${kind}`, requester: j.requester, jobId, kind, amount: amount.toString() },
      });
    });
    return amount;
  }

  /**
   * L1: the requester's signed Request relayed to EmethCore (requestFor), which moves the escrow out
   * of its deposit. Under the requester's lock, as an L2 reservation: no two Jobs spend one deposit.
   */
  async function reserveOnL1(j: Awaited<ReturnType<typeof loadJob>>) {
    const jobId = j.id;
    const existing = await prisma.ledgerEntry.findUnique({ where: { id: `${jobId}:l1-escrow` } });
    if (existing) return { reserved: existing.amount.toFixed(0) };
    if (!deps.l1) refuse('this L2 has no L1 market configured: submit the Job on layer l2');
    if (!j.l1Signature)
      refuse('the requester signed no L1 Request for this Job: submit it again with l1Request');
    // From here EmethCore holds the escrow itself: the deposit it left no longer counts it.
    const amount = await reserveAndLock(
      j,
      'l1-escrow',
      "EmethCore refused the Job's signed Request",
      () => deps.l1!.requestJobFor(l1RequestOf(j), j.l1Signature!),
      // A relay that landed before a crash: the chain holds the escrow already, the deposit is not read again.
      async () => (await deps.l1!.getJob(jobId)) !== null,
    );
    logger.info({ jobId, escrow: amount.toString() }, 'L1 escrow taken from the deposit');
    return { reserved: amount.toString() };
  }

  /**
   * L1: what the chain paid is the truth — per SubJob verified on chain its node's fuel × price and
   * its verifier's fee share; the rest of the escrow went back to the requester's wallet on chain.
   */
  async function settleOnL1(
    j: Awaited<ReturnType<typeof loadJob>>,
    status: Parameters<LedgerActivities['settleJob']>[1],
    reason?: string,
  ) {
    const settled = await prisma.ledgerEntry.findUnique({ where: { id: `${j.id}:charge` } });
    if (settled) return { charged: j.charged.toFixed(0), refunded: j.refunded.toFixed(0) };
    const reserved = big(j.reserved);
    const subs = await prisma.subJob.findMany({
      where: { jobId: j.id, epoch: 0 },
      orderBy: { index: 'asc' },
    });
    let charged = 0n;
    if (deps.l1 && (await prisma.ledgerEntry.findUnique({ where: { id: `${j.id}:l1-escrow` } }))) {
      for (const s of subs) {
        const c = await deps.l1.getSubJob(j.id, s.index);
        if (c.status === SubJobStatus.Verified)
          charged += BigInt(c.fuelUsed) * big(j.fuelPrice) + BigInt(c.verifierFee);
      }
    }
    const refunded = reserved - charged;
    await prisma.$transaction([
      entry(j, 'charge', charged),
      entry(j, 'release', refunded),
      prisma.subJob.updateMany({
        where: { jobId: j.id, status: { notIn: ['verified', 'failed'] } },
        data: { status: 'cancelled' },
      }),
      prisma.job.update({
        where: { id: j.id },
        data: {
          charged: charged.toString(),
          refunded: refunded.toString(),
          status,
          ...(reason ? { reason } : {}),
        },
      }),
    ]);
    logger.info(
      { jobId: j.id, status, charged: charged.toString(), refunded: refunded.toString() },
      'L1 Job settled (paid on chain)',
    );
    return { charged: charged.toString(), refunded: refunded.toString() };
  }

  /** A ticket's row, once per (SubJob, payee): a retried issue or settlement finds it there. */
  function upsertTicket({ role, ticket }: IssuedTicket) {
    return prisma.ticket.upsert({
      where: { subJobId_role: { subJobId: ticket.subJobId, role } },
      create: ticketRow(role, ticket),
      update: {},
    });
  }

  /** The Job's commitment on EmethCore lowered to what its tickets charge (the rest is free again). */
  async function settleOnChain(j: { id: string; requester: string }, charged: bigint): Promise<void> {
    if (!(await prisma.ledgerEntry.findUnique({ where: { id: `${j.id}:commit` } }))) return;
    await deps.chain.settleCommitment(j.requester, j.id, charged);
  }
}

type IssuedTicket = { role: TicketRole; ticket: Ticket };

/** A ticket as its database row (the id is its EIP-712 struct hash). */
function ticketRow(role: TicketRole, t: Ticket) {
  return {
    id: hashTicket(t),
    jobId: t.jobId,
    subJobId: t.subJobId,
    role,
    node: t.node,
    requester: t.requester,
    amount: t.amount.toString(),
    verifier: t.verifier,
    verifierFee: t.verifierFee.toString(),
  };
}
