import type { PrismaClient } from '../../prisma/client';
import type { L2Chain } from '../chain';

/** Ids of batched tickets that EmethCore has redeemed but the database does not know of yet. */
export async function redeemedTicketsOf(deps: {
  prisma: PrismaClient;
  chain: Pick<L2Chain, 'isRedeemed'>;
  chainCache?: { syncOnce(): Promise<unknown> };
}): Promise<string[]> {
  const { prisma } = deps;
  const unredeemed = await prisma.ticket.findMany({ where: { batchId: { not: null }, redeemedAt: null } });
  if (unredeemed.length === 0) return [];
  const batches = await prisma.batch.findMany({
    where: { id: { in: [...new Set(unredeemed.map((t) => t.batchId!))] } },
  });
  const roots = new Map(batches.map((b) => [b.id, b.root.toLowerCase()]));
  const leafOf = (t: (typeof unredeemed)[number]) => `${roots.get(t.batchId!)!}:${t.leafIndex!}`;
  if (deps.chainCache) {
    await deps.chainCache.syncOnce();
    const seen = await prisma.chainTicketRedemption.findMany({
      where: { id: { in: unredeemed.map(leafOf) } },
      select: { id: true },
    });
    const ids = new Set(seen.map((r) => r.id));
    return unredeemed.filter((t) => ids.has(leafOf(t))).map((t) => t.id);
  }
  const redeemed: string[] = [];
  for (const t of unredeemed)
    if (await deps.chain.isRedeemed(roots.get(t.batchId!)!, t.leafIndex!)) redeemed.push(t.id);
  return redeemed;
}
