/**
 * Which nodes a lease holds (paper 5-2): a node held by an active lease serves only that lease's
 * requester, so the Dispatcher and the inference placement leave it out for everyone else.
 */
import type { PrismaClient } from '../../prisma/client';

type LeaseReader = Pick<PrismaClient, 'leaseNode'>;

/** Nodes held right now by active leases of requesters other than `requester` (lower-case ids). */
export async function leasedElsewhere(prisma: LeaseReader, requester: string): Promise<Set<string>> {
  const rows = await prisma.leaseNode.findMany({
    where: { status: 'active', lease: { status: 'active', requester: { not: requester.toLowerCase() } } },
    select: { nodeId: true },
  });
  return new Set(rows.map((r) => r.nodeId));
}

/** The nodes an active lease of this requester holds now. */
export async function leasedNodesOf(prisma: LeaseReader, leaseId: string): Promise<string[]> {
  const rows = await prisma.leaseNode.findMany({
    where: { leaseId, status: 'active', lease: { status: 'active' } },
    select: { nodeId: true },
  });
  return rows.map((r) => r.nodeId);
}
