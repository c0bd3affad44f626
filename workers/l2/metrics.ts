/**
 * The L2's operator metrics in Prometheus format (prom-client), served at `GET /metrics`. Money
 * gauges are read from the database at scrape time, so they are right after a restart and need no
 * bookkeeping on the hot path; only events (reconciliation fixes, attempt durations) are counted.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PrismaClient } from '../../prisma/client';
import { big } from '../../prisma/ledger';
import type { AttemptOutcome } from '../../lib/types';

export interface L2Metrics {
  registry: Registry;
  /** A reconciliation settled a Job its workflow left behind. */
  reconciled(): void;
  /** An attempt closed after `seconds` with `outcome`. */
  attemptClosed(outcome: AttemptOutcome, seconds: number): void;
}

export function createL2Metrics(prisma: PrismaClient): L2Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'emeth_l2_' });

  new Gauge({
    name: 'emeth_jobs',
    help: 'Jobs by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await prisma.job.groupBy({ by: ['status'], _count: true });
      for (const r of rows) this.set({ status: r.status }, r._count);
    },
  });
  new Gauge({
    name: 'emeth_reservations_outstanding_holon',
    help: 'Holon of requesters’ deposits reserved by Jobs not yet settled',
    registers: [registry],
    async collect() {
      const rows = await prisma.ledgerEntry.groupBy({ by: ['kind'], _sum: { amount: true } });
      const sum = (kind: string) => big(rows.find((r) => r.kind === kind)?._sum.amount);
      this.set(Number(sum('reserve') - sum('charge') - sum('release')));
    },
  });
  new Gauge({
    name: 'emeth_tickets',
    help: 'Tickets by state: pending (not batched), batched (signed, not redeemed), redeemed',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const [pending, batched, redeemed] = await Promise.all([
        prisma.ticket.count({ where: { batchId: null } }),
        prisma.ticket.count({ where: { batchId: { not: null }, redeemedAt: null } }),
        prisma.ticket.count({ where: { redeemedAt: { not: null } } }),
      ]);
      this.set({ state: 'pending' }, pending);
      this.set({ state: 'batched' }, batched);
      this.set({ state: 'redeemed' }, redeemed);
    },
  });
  new Gauge({
    name: 'emeth_tickets_holon',
    help: 'Holon owed by tickets, by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const owed = async (where: object) => {
        const a = await prisma.ticket.aggregate({ where, _sum: { amount: true, verifierFee: true } });
        return Number(big(a._sum.amount) + big(a._sum.verifierFee));
      };
      this.set({ state: 'pending' }, await owed({ batchId: null }));
      this.set({ state: 'batched' }, await owed({ batchId: { not: null }, redeemedAt: null }));
      this.set({ state: 'redeemed' }, await owed({ redeemedAt: { not: null } }));
    },
  });
  new Gauge({
    name: 'emeth_penalties_burned_holon',
    help: 'Holon of node stake burned, by reason (the attempt outcome)',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await prisma.attempt.groupBy({
        by: ['outcome'],
        where: { penalty: { not: null } },
        _sum: { penalty: true },
      });
      for (const r of rows) this.set({ reason: r.outcome ?? 'open' }, Number(big(r._sum.penalty)));
    },
  });
  new Gauge({
    name: 'emeth_signer_lag_seconds',
    help: 'Age of the oldest ticket the Signer has not batched yet (0 when none waits)',
    registers: [registry],
    async collect() {
      const oldest = await prisma.ticket.findFirst({
        where: { batchId: null },
        orderBy: { createdAt: 'asc' },
      });
      this.set(oldest ? (Date.now() - oldest.createdAt.getTime()) / 1000 : 0);
    },
  });
  const fixes = new Counter({
    name: 'emeth_reconciliation_fixes_total',
    help: 'Jobs the reconciliation settled after their workflow closed without settling them',
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'emeth_subjob_attempt_duration_seconds',
    help: 'From an attempt’s opening to its close, by outcome',
    labelNames: ['outcome'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  return {
    registry,
    reconciled: () => fixes.inc(),
    attemptClosed: (outcome, seconds) => durations.observe({ outcome }, seconds),
  };
}
