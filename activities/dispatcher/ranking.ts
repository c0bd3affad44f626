import type { PrismaClient } from '../../prisma/client';

/**
 * Spreads a Job over the nodes: fewer running SubJobs first, then fewer SubJobs of this Job, then
 * the order given (the better track record first; Array.sort is stable).
 */
export async function rankNodes<N extends { id: string }>(
  prisma: PrismaClient,
  jobId: string,
  nodes: N[],
): Promise<N[]> {
  if (nodes.length <= 1) return nodes;
  const ids = nodes.map((c) => c.id);
  const [busy, ofJob] = await Promise.all([
    prisma.subJob.groupBy({
      by: ['nodeId'],
      where: { status: { in: ['assigned', 'running'] }, nodeId: { in: ids } },
      _count: true,
    }),
    prisma.subJob.groupBy({ by: ['nodeId'], where: { jobId, nodeId: { in: ids } }, _count: true }),
  ]);
  const load = new Map(busy.map((b) => [b.nodeId, b._count]));
  const shareOfJob = new Map(ofJob.map((b) => [b.nodeId, b._count]));
  return [...nodes].sort(
    (a, b) =>
      (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0) ||
      (shareOfJob.get(a.id) ?? 0) - (shareOfJob.get(b.id) ?? 0),
  );
}
