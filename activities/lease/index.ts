/**
 * The lease workflow's activities on `emeth-l2` (paper 5-2): the lease's budget committed on
 * EmethCore like an L2 Job's, its nodes chosen and their leave-early penalty locked, one ticket per
 * present node per period (the Signer batches them as any other), a node that left penalised as
 * for a timeout, and settlement: the commitment lowered to what the tickets charge, the rest
 * refunded, the nodes released.
 */
import { ZeroAddress } from 'ethers';
import type { Prisma, PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import { big, withRequesterLock } from '../../prisma/ledger';
import { hashTicket } from '../../lib/tickets';
import { DEFAULT_FEE_PARAMS, type FeeParams } from '../../lib/fees';
import type { LeaseActivities, LeaseSettings } from '../../lib/pipeline/lease';
import type { L2Chain } from '../chain';
import { refuse } from '../shared/job-rows';
import { freeToCommit } from '../ledger/free-deposit';
import { penaltyFor } from '../dispatcher/penalties';
import { getProgramSpec, ProgramId } from '../../lib/programs';
import { leaveEarlyPenaltyOf, leaseStakeKey, periodTicketId, pricePerPeriodOf } from './pricing';
export type { LeaseActivities } from '../../lib/pipeline/lease';

export interface LeaseDeps {
  prisma: PrismaClient;
  chain: Pick<
    L2Chain,
    | 'freeDeposit'
    | 'commit'
    | 'settleCommitment'
    | 'stakeOf'
    | 'penalize'
    | 'fine'
    | 'lockStake'
    | 'releaseStake'
  >;
  /** Which of these nodes have a worker polling their own queue right now. */
  nodesOnline(nodeIds: string[]): Promise<Set<string>>;
  feeParams?: FeeParams;
  settings: LeaseSettings;
  logger: Logger;
}

/** Longer than the poller freshness nodesOnline allows (90 s), so a gone node has aged out of it. */
const JUST_LEFT_MS = 120_000;

export function createLeaseActivities(deps: LeaseDeps): LeaseActivities {
  const { prisma, chain, logger } = deps;
  const feeParams = deps.feeParams ?? DEFAULT_FEE_PARAMS;
  const load = async (leaseId: string) => {
    const l = await prisma.lease.findUnique({ where: { id: leaseId } });
    if (!l) refuse(`no lease ${leaseId}`);
    return l;
  };
  const pricePerPeriod = (l: { hourlyPrice: Prisma.Decimal; periodSeconds: number }) =>
    pricePerPeriodOf(big(l.hourlyPrice), l.periodSeconds) ?? 0n;
  const penaltyOfLease = (l: Awaited<ReturnType<typeof load>>) =>
    leaveEarlyPenaltyOf(l.periods, pricePerPeriod(l), feeParams);

  return {
    async leaseSettings() {
      return deps.settings;
    },

    async reserveLease({ leaseId }) {
      const l = await load(leaseId);
      const budget = big(l.budget);
      await withRequesterLock(prisma, l.requester, async (tx) => {
        if (await tx.ledgerEntry.findUnique({ where: { id: `${leaseId}:commit` } })) return;
        if (!(await tx.ledgerEntry.findUnique({ where: { id: `${leaseId}:reserve` } }))) {
          const free = await freeToCommit({ prisma: tx, chain }, l.requester, leaseId);
          if (free < budget)
            refuse(
              `the requester's free deposit (${free < 0n ? 0n : free} holon) does not cover the lease's budget (${budget} holon): deposit more on EmethCore`,
            );
          await tx.ledgerEntry.create({
            data: {
              id: `${leaseId}:reserve`,
              requester: l.requester,
              jobId: leaseId,
              kind: 'reserve',
              amount: budget.toString(),
            },
          });
        }
        try {
          await chain.commit(
            { requester: l.requester, jobId: leaseId, amount: budget, deadline: l.commitDeadline },
            l.commitSignature,
          );
        } catch (err) {
          refuse(`EmethCore refused the lease's commitment: ${(err as Error).message}`);
        }
        await tx.ledgerEntry.create({
          data: {
            id: `${leaseId}:commit`,
            requester: l.requester,
            jobId: leaseId,
            kind: 'commit',
            amount: budget.toString(),
          },
        });
      });
      logger.info({ jobId: leaseId, budget: budget.toString() }, 'lease budget committed');
      return { budget: budget.toString() };
    },

    async startLease({ leaseId }) {
      const l = await load(leaseId);
      const penalty = penaltyOfLease(l);
      // Who could serve: the class, online, polling its own queue, staked for the penalty. Read
      // before the placement's lock (chain and Temporal calls stay out of the transaction).
      const candidates = await prisma.node.findMany({
        where: { capabilityClass: l.capabilityClass, status: 'online', encryptionKey: { not: null } },
        orderBy: [{ completed: 'desc' }, { registeredAt: 'asc' }],
      });
      const online = await deps.nodesOnline(candidates.map((n) => n.id));
      // Temporal lists a gone worker's poller as recent for a while (nodesOnline's freshness): a
      // node that just missed a lease's confirmation is not offered the next lease meanwhile.
      const justLeft = new Set(
        (
          await prisma.leaseNode.findMany({
            where: { status: 'left', leftAt: { gt: new Date(Date.now() - JUST_LEFT_MS) } },
            select: { nodeId: true },
          })
        ).map((n) => n.nodeId),
      );
      const eligible: string[] = [];
      for (const n of candidates)
        if (online.has(n.id) && !justLeft.has(n.id) && (await chain.stakeOf(n.id)) >= penalty)
          eligible.push(n.id);
      // One placement at a time: two leases starting together never choose the same node.
      const chosen = await prisma.$transaction(
        async (tx) => {
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended('emeth:lease-placement', 0))`;
          const mine = await tx.leaseNode.findMany({ where: { leaseId }, select: { nodeId: true } });
          if (mine.length > 0) return mine.map((n) => n.nodeId);
          const held = new Set(
            (await tx.leaseNode.findMany({ where: { status: 'active' }, select: { nodeId: true } })).map(
              (n) => n.nodeId,
            ),
          );
          const picked = eligible.filter((id) => !held.has(id)).slice(0, l.nodeCount);
          if (picked.length < l.nodeCount)
            refuse(
              `only ${picked.length} of the ${l.nodeCount} ${l.capabilityClass} nodes asked for are free, online and staked at least ${penalty} holon (the leave-early penalty): the budget is refunded in full; lease again later or ask for fewer`,
            );
          const startsAt = new Date();
          const endsAt = new Date(startsAt.getTime() + l.periods * l.periodSeconds * 1000);
          await tx.leaseNode.createMany({
            data: picked.map((nodeId) => ({ leaseId, nodeId, status: 'active', joinedAt: startsAt })),
          });
          await tx.lease.update({ where: { id: leaseId }, data: { status: 'active', startsAt, endsAt } });
          return picked;
        },
        { timeout: 30_000, maxWait: 30_000 },
      );
      // Each node's penalty held back on EmethCore: an unstake request cannot take it while leased.
      for (const nodeId of chosen) await chain.lockStake(nodeId, leaseStakeKey(leaseId, nodeId), penalty);
      const keys = await prisma.node.findMany({
        where: { id: { in: chosen } },
        select: { id: true, encryptionKey: true },
      });
      const row = await load(leaseId);
      logger.info(
        { jobId: leaseId, nodes: chosen, penalty: penalty.toString(), endsAt: row.endsAt },
        'lease started',
      );
      return {
        nodes: chosen,
        nodeKeys: Object.fromEntries(keys.map((k) => [k.id, k.encryptionKey ?? ''])),
        startsAt: row.startsAt!.getTime(),
        periods: row.periods,
        periodSeconds: row.periodSeconds,
      };
    },

    async leaseNodeMissed({ leaseId, nodeId, period, reason }) {
      const node = nodeId.toLowerCase();
      const held = await prisma.leaseNode.findUnique({
        where: { leaseId_nodeId: { leaseId, nodeId: node } },
      });
      if (!held) refuse(`node ${node} is not in lease ${leaseId}`);
      if (held.status !== 'active' && held.status !== 'left') return 'left'; // released already
      if (held.status === 'active') {
        // The node's one activity slot may be running a SubJob (the lessee's own, or one it took
        // before the lease): it is there, only busy.
        const running = await prisma.attempt.findFirst({ where: { nodeId: node, outcome: null } });
        if (running) {
          logger.info(
            { jobId: leaseId, nodeId: node, period, subJobId: running.subJobId },
            'leased node busy with a SubJob: counted present',
          );
          return 'busy';
        }
        const left = await prisma.leaseNode.updateMany({
          where: { leaseId, nodeId: node, status: 'active' },
          data: { status: 'left', leftAt: new Date() },
        });
        if (left.count > 0)
          await prisma.node.update({ where: { id: node }, data: { failures: { increment: 1 } } });
      }
      // Keyed by lease and node: a retried activity never burns twice.
      const l = await load(leaseId);
      const { penalty } = await penaltyFor(chain, feeParams, {
        kind: 'timeout',
        node,
        feeLimit: BigInt(l.periods) * pricePerPeriod(l),
        reason: leaseStakeKey(leaseId, node),
        policy: getProgramSpec(ProgramId.ONNX_INFERENCE).verification,
      });
      logger.warn(
        { jobId: leaseId, nodeId: node, period, penalty: penalty.toString(), reason },
        'leased node left early: penalised as for a timeout, its remaining periods refunded',
      );
      return 'left';
    },

    async payLeasePeriod({ leaseId, period, nodes }) {
      const l = await load(leaseId);
      const price = pricePerPeriod(l);
      const paid = await prisma.$transaction(async (tx) => {
        let total = 0n;
        for (const nodeId of nodes.map((n) => n.toLowerCase())) {
          const held = await tx.leaseNode.findUnique({ where: { leaseId_nodeId: { leaseId, nodeId } } });
          if (held?.status !== 'active') continue;
          const subJobId = periodTicketId(leaseId, period, nodeId);
          // A retried period finds its tickets and pays nobody twice.
          if (await tx.ticket.findUnique({ where: { subJobId_role: { subJobId, role: 'node' } } })) continue;
          const ticket = {
            jobId: leaseId,
            subJobId,
            node: nodeId,
            requester: l.requester,
            amount: price,
            verifier: ZeroAddress.toLowerCase(),
            verifierFee: 0n,
          };
          await tx.ticket.create({
            data: {
              id: hashTicket(ticket),
              jobId: leaseId,
              subJobId,
              role: 'node',
              node: nodeId,
              requester: l.requester,
              amount: price.toString(),
              verifier: ticket.verifier,
              verifierFee: '0',
            },
          });
          await tx.leaseNode.update({
            where: { leaseId_nodeId: { leaseId, nodeId } },
            data: { paidPeriods: { increment: 1 } },
          });
          total += price;
        }
        if (total > 0n)
          await tx.lease.update({
            where: { id: leaseId },
            data: { charged: { increment: total.toString() } },
          });
        return total;
      });
      logger.info({ jobId: leaseId, period, nodes, paid: paid.toString() }, 'lease period ticketed');
      return { paid: paid.toString() };
    },

    async settleLease({ leaseId, status, reason }) {
      const l = await load(leaseId);
      const out = (row: typeof l) => ({
        status: row.status as 'ended' | 'failed',
        charged: row.charged.toFixed(0),
        refunded: row.refunded.toFixed(0),
        ...(row.reason ? { reason: row.reason } : {}),
      });
      if (['ended', 'failed'].includes(l.status)) return out(l);
      const tickets = await prisma.ticket.aggregate({ where: { jobId: leaseId }, _sum: { amount: true } });
      const charged = big(tickets._sum.amount);
      const committed = await prisma.ledgerEntry.findUnique({ where: { id: `${leaseId}:commit` } });
      const reserved = committed ? big(committed.amount) : 0n;
      if (committed) await chain.settleCommitment(l.requester, leaseId, charged);
      // The nodes still held get their locked penalty back (a left node's lock paid its penalty).
      const held = await prisma.leaseNode.findMany({ where: { leaseId } });
      for (const n of held) await chain.releaseStake(leaseStakeKey(leaseId, n.nodeId));
      const refunded = reserved - charged;
      const entry = (kind: string, amount: bigint) =>
        prisma.ledgerEntry.upsert({
          where: { id: `${leaseId}:${kind}` },
          create: {
            id: `${leaseId}:${kind}`,
            requester: l.requester,
            jobId: leaseId,
            kind,
            amount: amount.toString(),
          },
          update: {},
        });
      const now = new Date();
      await prisma.$transaction([
        ...(committed ? [entry('charge', charged), entry('release', refunded)] : []),
        prisma.leaseNode.updateMany({
          where: { leaseId, status: 'active' },
          data: { status: 'released', leftAt: now },
        }),
        prisma.lease.update({
          where: { id: leaseId },
          data: {
            status,
            charged: charged.toString(),
            refunded: refunded.toString(),
            // Ended early (or never started): the lease ends now.
            ...(l.endsAt === null || l.endsAt > now ? { endsAt: now } : {}),
            ...(reason ? { reason } : {}),
          },
        }),
      ]);
      logger.info(
        { jobId: leaseId, status, charged: charged.toString(), refunded: refunded.toString(), reason },
        'lease settled',
      );
      return out(await load(leaseId));
    },
  };
}
