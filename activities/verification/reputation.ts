/**
 * A node's reputation with a program: its verified SubJobs of that program on other requesters'
 * Jobs since its last rejected one. Work on its own Jobs earns nothing (a node cannot buy trust
 * from itself), and a proven mismatch starts it over. Read from the attempt rows, so it survives
 * any restart of the L2.
 */
import type { PrismaClient } from '../../prisma/client';

export async function reputationOf(prisma: PrismaClient, nodeId: string, programId: number): Promise<number> {
  const node = nodeId.toLowerCase();
  const lastMismatch = await prisma.attempt.findFirst({
    where: { nodeId: node, outcome: 'rejected', subJob: { programId } },
    orderBy: { startedAt: 'desc' },
    select: { startedAt: true },
  });
  return prisma.attempt.count({
    where: {
      nodeId: node,
      outcome: 'verified',
      subJob: { programId, job: { requester: { not: node } } },
      ...(lastMismatch ? { startedAt: { gt: lastMismatch.startedAt } } : {}),
    },
  });
}
