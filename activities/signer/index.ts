/**
 * The Signer (paper §2): every interval, the pending tickets under one Merkle root with an EIP-712
 * signature, which nodes redeem on EmethCore with their proofs. Before batching, tickets redeemed
 * since the last interval are marked so they stop counting against their requester's deposit.
 */
import type { TypedDataDomain } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { SignerActivities } from '../../lib/pipeline';
import { TicketTree, signBatch, type Ticket, type TypedDataSigner } from '../../lib/tickets';
import { ticketOfRow } from '../../prisma/ledger';
import type { L2Chain } from '../chain';
import { redeemedTicketsOf } from './redemptions';

export interface SignerDeps {
  prisma: PrismaClient;
  chain: Pick<L2Chain, 'isRedeemed'>;
  /** Signs ticket batches (an address in EmethCore's signer set). */
  signer: TypedDataSigner & { getAddress(): Promise<string> };
  domain: TypedDataDomain;
  logger: Logger;
  /**
   * EMETH Cache (activities/chain-cache): when given, redeemed tickets are found in its mirror of
   * `TicketRedeemed` events, one getLogs per Signer interval, instead of one `isRedeemed` call per
   * unredeemed ticket.
   */
  chainCache?: { syncOnce(): Promise<unknown> };
}

export function createSignerActivities(deps: SignerDeps): SignerActivities {
  const { prisma, logger } = deps;
  return {
    async signPendingTickets() {
      const redeemed = await redeemedTicketsOf(deps);
      if (redeemed.length > 0) {
        await prisma.ticket.updateMany({ where: { id: { in: redeemed } }, data: { redeemedAt: new Date() } });
      }

      const pending = await prisma.ticket.findMany({
        where: { batchId: null },
        orderBy: { createdAt: 'asc' },
        take: 1000,
      });
      if (pending.length === 0) return null;
      const tickets: Ticket[] = pending.map(ticketOfRow);
      const tree = new TicketTree(tickets);
      const last = await prisma.batch.findFirst({ orderBy: { id: 'desc' } });
      const batchId = (last?.id ?? 0) + 1;
      const batch = { batchId: BigInt(batchId), root: tree.root, total: tree.total };
      const signature = await signBatch(deps.signer, deps.domain, batch);
      await prisma.$transaction([
        prisma.batch.create({
          data: {
            id: batchId,
            root: tree.root,
            total: tree.total.toString(),
            signer: (await deps.signer.getAddress()).toLowerCase(),
            signature,
            ticketCount: tickets.length,
          },
        }),
        ...pending.map((t, i) =>
          prisma.ticket.update({
            where: { id: t.id },
            data: { batchId, leafIndex: i, proof: tree.proof(i) },
          }),
        ),
      ]);
      logger.info({ batchId, tickets: tickets.length, total: tree.total.toString() }, 'ticket batch signed');
      return { batchId, tickets: tickets.length, total: tree.total.toString() };
    },
  };
}
