/**
 * GPU rental (paper 5-2). A requester leases N nodes of a class for a whole number of periods at
 * an hourly price; its Commit lets the L2 take nodes × periods × pricePerPeriod from its deposit.
 * The lease workflow holds the nodes (they serve only this requester meanwhile), pays each present
 * node one ticket per period and, at the end (on time or DELETE), refunds the rest.
 */
import { Router, type Request, type Response } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Authenticator } from '../auth';
import type { ApiContext } from '../deps';
import { HttpError, badRequest, conflict, notFound } from '../errors';
import { authenticated, callerOf, jsonBody } from '../http';
import { CreateLeaseBody, LeasePath } from '../schemas/leases';
import { parseObject, parsePath } from '../schemas/parse';
import { checkRequesterCommit, freeDepositOf, insufficientDeposit } from '../commit-check';
import { leaseBudgetOf, pricePerPeriodOf } from '../../activities/lease/pricing';
import { big, withRequesterLock } from '../../prisma/ledger';
import { MIN_COMMIT_WINDOW_S } from '../../lib/commit-window';

export const leaseWorkflowId = (id: string) => `lease-${id}`;

export function leasesRouter(ctx: ApiContext, auth: Authenticator): Router {
  const router = Router();
  const periodSeconds = ctx.leasePeriodSeconds ?? 3600;

  async function ownLease(req: Request, res: Response) {
    const id = parsePath(LeasePath, req.params).id.toLowerCase();
    res.locals.jobId = id;
    const caller = callerOf(res).address;
    const l = await ctx.prisma.lease.findUnique({
      where: { id },
      include: { nodes: { orderBy: { joinedAt: 'asc' } } },
    });
    if (!l || l.requester !== caller) throw notFound('lease_not_found', `no lease ${id} of ${caller}`);
    return l;
  }

  function view(l: NonNullable<Awaited<ReturnType<typeof ownLease>>>) {
    return {
      id: l.id,
      requester: l.requester,
      capabilityClass: l.capabilityClass,
      nodeCount: l.nodeCount,
      hourlyPrice: l.hourlyPrice.toFixed(0),
      periodSeconds: l.periodSeconds,
      periods: l.periods,
      pricePerPeriod: (pricePerPeriodOf(big(l.hourlyPrice), l.periodSeconds) ?? 0n).toString(),
      budget: l.budget.toFixed(0),
      status: l.status,
      reason: l.reason,
      startsAt: l.startsAt?.toISOString() ?? null,
      endsAt: l.endsAt?.toISOString() ?? null,
      charged: l.charged.toFixed(0),
      refunded: l.refunded.toFixed(0),
      nodes: l.nodes.map((n) => ({
        nodeId: n.nodeId,
        status: n.status,
        paidPeriods: n.paidPeriods,
        joinedAt: n.joinedAt.toISOString(),
        leftAt: n.leftAt?.toISOString() ?? null,
      })),
      createdAt: l.createdAt.toISOString(),
      temporal: { workflowId: l.workflowId },
    };
  }

  router.get('/terms', authenticated(auth), (_req, res) => {
    res.json({ periodSeconds, minCommitWindowSeconds: MIN_COMMIT_WINDOW_S });
  });

  router.post('/', authenticated(auth), async (req, res) => {
    const body = parseObject(CreateLeaseBody, jsonBody(req));
    const requester = callerOf(res).address;
    const id = body.commit.leaseId;
    res.locals.jobId = id;
    if (body.durationSeconds % periodSeconds !== 0)
      throw badRequest(
        'invalid_duration',
        `durationSeconds ${body.durationSeconds} is not a whole number of ${periodSeconds}-second periods`,
        'durationSeconds',
      );
    const periods = body.durationSeconds / periodSeconds;
    const hourlyPrice = BigInt(body.hourlyPrice);
    const price = pricePerPeriodOf(hourlyPrice, periodSeconds);
    if (price === undefined)
      throw badRequest(
        'invalid_price',
        `hourlyPrice ${hourlyPrice} × ${periodSeconds} s / 3600 is not a whole holon per period: give a multiple of ${3600 / gcd(3600, periodSeconds)}`,
        'hourlyPrice',
      );
    const budget = leaseBudgetOf(body.nodes, periods, price);
    checkCommit(requester, body.commit, budget, body.durationSeconds);
    if (await ctx.prisma.lease.findUnique({ where: { id }, select: { id: true } }))
      throw conflict('lease_exists', `a lease ${id} exists already: choose a fresh id and sign again`);

    const workflowId = leaseWorkflowId(id);
    const row = await withRequesterLock(ctx.prisma, requester, async (tx) => {
      const free = await freeDepositOf({ prisma: tx, chain: ctx.chain }, requester);
      if (free < budget)
        throw insufficientDeposit(
          requester,
          free,
          budget,
          `the lease (${body.nodes} nodes × ${periods} periods × ${price})`,
        );
      return tx.lease.create({
        data: {
          id,
          workflowId,
          requester,
          capabilityClass: body.capabilityClass,
          nodeCount: body.nodes,
          hourlyPrice: hourlyPrice.toString(),
          periodSeconds,
          periods,
          budget: budget.toString(),
          commitSignature: body.commit.signature,
          commitDeadline: BigInt(body.commit.deadline),
          status: 'pending',
        },
        include: { nodes: true },
      });
    });
    try {
      await ctx.temporal.workflow.start('leaseWorkflow', {
        taskQueue: ctx.l2TaskQueue,
        workflowId,
        args: [{ leaseId: id }],
      });
    } catch (err) {
      await ctx.prisma.lease.delete({ where: { id } }).catch(() => undefined);
      throw new HttpError(
        503,
        'temporal_unavailable',
        `the lease workflow could not be started (${(err as Error).message}); nothing was committed, lease again`,
      );
    }
    req.log.info(
      { jobId: id, requester, budget: budget.toString(), nodes: body.nodes, periods },
      'lease created',
    );
    res.status(201).json(view(row));
  });

  router.get('/:id', authenticated(auth), async (req, res) => {
    res.json(view(await ownLease(req, res)));
  });

  router.delete('/:id', authenticated(auth), async (req, res) => {
    const l = await ownLease(req, res);
    if (!['pending', 'active'].includes(l.status))
      throw conflict('lease_ended', `lease ${l.id} is ${l.status} already`);
    await ctx.temporal.workflow
      .getHandle(l.workflowId)
      .signal('end', { reason: `ended early by ${callerOf(res).address}` })
      .catch((err: unknown) => {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      });
    res.status(202).json(view(l));
  });

  /** The Commit must be the requester's own over exactly this lease's budget, open past its end. */
  function checkCommit(
    requester: string,
    commit: { leaseId: string; deadline: number; signature: string },
    budget: bigint,
    durationSeconds: number,
  ) {
    checkRequesterCommit(ctx.commitDomain, requester, { ...commit, jobId: commit.leaseId }, budget, {
      earliest: Math.floor(ctx.now() / 1000) + durationSeconds + MIN_COMMIT_WINDOW_S,
      earliestWhy: `the lease's end + ${MIN_COMMIT_WINDOW_S} s for nodes to redeem`,
      amountIs: 'nodes × periods × pricePerPeriod',
    });
  }

  return router;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
