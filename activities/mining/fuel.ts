/**
 * Verified fuel per node in a time window: what a mining epoch shares its pool by.
 *
 * A node's run of a SubJob counts when (a) a verifier passed it — a valid Verification row, whose
 * `fuelUsed` is the verifier's metering and what the run's ticket is priced at — and (b) the run
 * was ticketed — a Ticket of role 'node' (the SubJob's node of record) or 'replica' (a replicated
 * SubJob's second run) for that SubJob and node. A canary run is never ticketed and never counts.
 * A run counts once, in the epoch of its first valid verdict; verifier fee tickets are no GPU work.
 * An L1 Job's run is paid on chain, not by ticket: it counts once EmethCore's SubJobVerified for
 * that SubJob names that node (read back from the chain into ChainStep).
 */
import type { PrismaClient } from '../../prisma/client';
import { big } from '../../prisma/ledger';
import { TERMINAL_JOB_STATUSES } from '../../lib/types';

export interface WindowWork {
  /** Verified, ticketed fuel per lower-case node address (nodes with none are absent). */
  fuel: Map<string, bigint>;
  /** Runs verified in the window, not ticketed yet, whose Job has not ended: they may still count. */
  pending: number;
}

type Reader = Pick<PrismaClient, 'verification' | 'result' | 'attempt' | 'ticket' | 'subJob' | 'chainStep'>;

/** The verified work of runs whose first valid verdict was recorded in [from, to). */
export async function verifiedWorkIn(prisma: Reader, from: Date, to: Date): Promise<WindowWork> {
  const verdicts = await prisma.verification.findMany({
    where: { valid: true, createdAt: { gte: from, lt: to } },
    select: { id: true, subJobId: true, fuelUsed: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  if (verdicts.length === 0) return { fuel: new Map(), pending: 0 };
  const ids = verdicts.map((v) => v.id);
  const [results, canaries] = await Promise.all([
    prisma.result.findMany({ where: { id: { in: ids } }, select: { id: true, nodeId: true } }),
    prisma.attempt.findMany({ where: { id: { in: ids }, canary: true }, select: { id: true } }),
  ]);
  const nodeOf = new Map(results.map((r) => [r.id, r.nodeId.toLowerCase()]));
  const canary = new Set(canaries.map((a) => a.id));

  // One run per (SubJob, node): its first valid verdict in the window.
  const runs = new Map<string, { subJobId: string; node: string; fuel: bigint }>();
  for (const v of verdicts) {
    const node = nodeOf.get(v.id);
    if (!node || canary.has(v.id)) continue;
    const key = `${v.subJobId}|${node}`;
    if (!runs.has(key)) runs.set(key, { subJobId: v.subJobId, node, fuel: big(v.fuelUsed) });
  }
  const subJobIds = [...new Set([...runs.values()].map((r) => r.subJobId))];

  // A run whose first valid verdict came before the window counted in an earlier epoch.
  const earlier = await prisma.verification.findMany({
    where: { subJobId: { in: subJobIds }, valid: true, createdAt: { lt: from } },
    select: { id: true, subJobId: true },
  });
  if (earlier.length > 0) {
    const earlierNodes = await prisma.result.findMany({
      where: { id: { in: earlier.map((v) => v.id) } },
      select: { subJobId: true, nodeId: true },
    });
    for (const r of earlierNodes) runs.delete(`${r.subJobId}|${r.nodeId.toLowerCase()}`);
  }

  const tickets = await prisma.ticket.findMany({
    where: { subJobId: { in: subJobIds }, role: { in: ['node', 'replica'] } },
    select: { subJobId: true, node: true },
  });
  const ticketed = new Set(tickets.map((t) => `${t.subJobId}|${t.node.toLowerCase()}`));
  // L1 runs: paid by the verifier's `verify` on chain.
  const l1Subs = await prisma.subJob.findMany({
    where: { id: { in: subJobIds }, job: { layer: 'l1' } },
    select: { id: true, jobId: true, index: true },
  });
  if (l1Subs.length > 0) {
    const verifiedOnChain = await prisma.chainStep.findMany({
      where: { jobId: { in: [...new Set(l1Subs.map((s) => s.jobId))] }, event: 'SubJobVerified' },
      select: { jobId: true, subJobIndex: true, actor: true },
    });
    const subOf = new Map(l1Subs.map((s) => [`${s.jobId}|${s.index}`, s.id]));
    for (const step of verifiedOnChain) {
      const sub = subOf.get(`${step.jobId}|${step.subJobIndex}`);
      if (sub && step.actor) ticketed.add(`${sub}|${step.actor.toLowerCase()}`);
    }
  }

  const fuel = new Map<string, bigint>();
  const unticketed: string[] = [];
  for (const [key, run] of runs) {
    if (!ticketed.has(key)) {
      unticketed.push(run.subJobId);
      continue;
    }
    fuel.set(run.node, (fuel.get(run.node) ?? 0n) + run.fuel);
  }
  for (const [node, f] of fuel) if (f === 0n) fuel.delete(node);

  let pending = 0;
  if (unticketed.length > 0) {
    const open = await prisma.subJob.findMany({
      where: { id: { in: [...new Set(unticketed)] }, job: { status: { notIn: [...TERMINAL_JOB_STATUSES] } } },
      select: { id: true },
    });
    const openIds = new Set(open.map((s) => s.id));
    pending = unticketed.filter((id) => openIds.has(id)).length;
  }
  return { fuel, pending };
}
