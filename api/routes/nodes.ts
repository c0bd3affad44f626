/**
 * Nodes: a node registers (or refreshes) itself with a request signed by its own key, after it
 * has registered and staked on EmethCore (the stake is what its penalties burn). Anyone
 * authenticated can list nodes; only the node itself reads its tickets, which it needs (with
 * their batch signature and Merkle proof) to redeem on EmethCore. A verifier reads and redeems
 * its own tickets (its fees) on the same routes under its own address: `:address` is the payee.
 * A node also reads its GPU Mining Program rewards, with the proofs EmethMining.claimMany takes.
 */
import { TicketTree, serializeTicket } from '../../lib/tickets';
import { ticketOfRow } from '../../prisma/ledger';
import { Router, type Request, type Response } from 'express';
import type { Authenticator } from '../auth';
import type { ApiContext, ChainView } from '../deps';
import { HttpError, forbidden, notFound } from '../errors';
import { authenticated, callerOf, jsonBody, queryObject } from '../http';
import { ListNodesQuery, NodePath, RegisterNodeBody, TicketsQuery } from '../schemas/nodes';
import { parseObject, parsePath, parseQuery } from '../schemas/parse';
import { holon, nodeView } from '../views';

/** What the rewards route reads from EmethMining. */
export interface MiningView {
  address: string;
  hasClaimed(epoch: number, node: string): Promise<boolean>;
}

/**
 * The chain view the L2 server hands the gateway: EmethCore's reads, and EmethMining's claim bits
 * when the deployment has the contract (api/deps' ChainView does not name it; the L2 server sets it).
 */
export interface ChainViewWithMining extends ChainView {
  mining?: MiningView;
}

export interface TicketView {
  /** Whom the ticket pays: 'node' (amount) or 'verifier' (verifierFee). */
  role: string;
  ticket: {
    jobId: string;
    subJobId: string;
    node: string;
    requester: string;
    amount: string;
    verifier: string;
    verifierFee: string;
  };
  batch: { batchId: number; root: string; total: string; signature: string } | null;
  leafIndex: number | null;
  proof: string[] | null;
  redeemedAt: string | null;
}

/** The node named in the path, which must be the caller: a node reads only its own money. */
function thisNodeOnly(req: Request, res: Response, what: string): string {
  const address = parsePath(NodePath, req.params).address.toLowerCase();
  const caller = callerOf(res).address;
  if (caller !== address) {
    throw forbidden('not_this_node', `only node ${address} itself may read its ${what} (you are ${caller})`);
  }
  return address;
}

/** The tickets that pay `address`: as the node of their SubJob, its replica, or its verifier. */
function paying(address: string) {
  return {
    OR: [
      { role: { in: ['node', 'replica'] }, node: address },
      { role: 'verifier', verifier: address },
    ],
  };
}

export function nodesRouter(ctx: ApiContext, auth: Authenticator): Router {
  const router = Router();

  async function stakeOf(address: string): Promise<bigint> {
    try {
      return await ctx.chain.stakeOf(address);
    } catch (err) {
      throw new HttpError(
        503,
        'chain_unavailable',
        `could not read the stake of ${address} from EmethCore (${(err as Error).message}); try again shortly`,
      );
    }
  }

  router.post('/', authenticated(auth, { signedOnly: true }), async (req, res) => {
    const address = callerOf(res).address;
    const body = parseObject(RegisterNodeBody, jsonBody(req));
    const stake = await stakeOf(address);
    if (stake <= 0n) {
      throw forbidden(
        'no_stake',
        `node ${address} has no stake on EmethCore: register and stake on EmethCore first, then register here`,
      );
    }
    const existing = await ctx.prisma.node.findUnique({ where: { id: address }, select: { id: true } });
    const now = new Date(ctx.now());
    const node = await ctx.prisma.node.upsert({
      where: { id: address },
      create: {
        id: address,
        capabilityClass: body.capabilityClass,
        encryptionKey: body.encryptionKey ?? null,
        status: 'online',
        lastSeenAt: now,
      },
      update: {
        capabilityClass: body.capabilityClass,
        status: 'online',
        lastSeenAt: now,
        ...(body.encryptionKey ? { encryptionKey: body.encryptionKey } : {}),
      },
    });
    req.log.info(
      { nodeId: address, capabilityClass: body.capabilityClass },
      existing ? 'node refreshed' : 'node registered',
    );
    res.status(existing ? 200 : 201).json({ ...nodeView(node), stake: stake.toString() });
  });

  router.get('/', authenticated(auth), async (req, res) => {
    const q = parseQuery(ListNodesQuery, queryObject(req));
    const nodes = await ctx.prisma.node.findMany({
      where: {
        ...(q.capabilityClass ? { capabilityClass: q.capabilityClass } : {}),
        ...(q.status ? { status: q.status } : {}),
      },
      orderBy: { registeredAt: 'asc' },
      take: 1000,
    });
    res.json({ nodes: nodes.map(nodeView) });
  });

  router.get('/:address', authenticated(auth), async (req, res) => {
    const address = parsePath(NodePath, req.params).address.toLowerCase();
    const node = await ctx.prisma.node.findUnique({ where: { id: address } });
    if (!node)
      throw notFound(
        'node_not_found',
        `no node ${address} is registered; it registers itself with a signed POST /v1/nodes`,
      );
    res.json({ ...nodeView(node), stake: (await stakeOf(address)).toString() });
  });

  // What `EmethCore.redeemMany` takes, per batch, for this node's tickets not yet known redeemed:
  // the multiproof needs the whole batch's tree, which only the L2 has (other nodes' tickets stay here).
  router.get('/:address/redemptions', authenticated(auth), async (req, res) => {
    const address = thisNodeOnly(req, res, 'redemptions');
    const mine = await ctx.prisma.ticket.findMany({
      where: { ...paying(address), redeemedAt: null, batchId: { not: null } },
      select: { batchId: true, leafIndex: true },
    });
    const byBatch = new Map<number, number[]>();
    for (const t of mine) byBatch.set(t.batchId!, [...(byBatch.get(t.batchId!) ?? []), t.leafIndex!]);
    const redemptions = [];
    for (const [batchId, leaves] of byBatch) {
      const batch = await ctx.prisma.batch.findUniqueOrThrow({ where: { id: batchId } });
      const all = await ctx.prisma.ticket.findMany({ where: { batchId }, orderBy: { leafIndex: 'asc' } });
      const tree = new TicketTree(all.map(ticketOfRow));
      const mp = tree.multiProof(leaves);
      redemptions.push({
        batch: { batchId: batch.id, root: batch.root, total: holon(batch.total), signature: batch.signature },
        tickets: mp.tickets.map(serializeTicket),
        indices: mp.indices.map(Number),
        proof: mp.proof,
        proofFlags: mp.proofFlags,
      });
    }
    res.json({ redemptions });
  });

  router.get('/:address/tickets', authenticated(auth), async (req, res) => {
    const address = thisNodeOnly(req, res, 'tickets');
    const q = parseQuery(TicketsQuery, queryObject(req));
    const tickets = await ctx.prisma.ticket.findMany({
      where: {
        ...paying(address),
        ...(q.redeemed === undefined ? {} : { redeemedAt: q.redeemed === 'true' ? { not: null } : null }),
      },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: 1000,
    });
    const batchIds = [...new Set(tickets.map((t) => t.batchId).filter((b): b is number => b !== null))];
    const batches = new Map(
      (await ctx.prisma.batch.findMany({ where: { id: { in: batchIds } } })).map((b) => [b.id, b]),
    );
    const views: TicketView[] = tickets.map((t) => {
      const b = t.batchId !== null ? batches.get(t.batchId) : undefined;
      return {
        role: t.role,
        ticket: {
          jobId: t.jobId,
          subJobId: t.subJobId,
          node: t.node,
          requester: t.requester,
          amount: holon(t.amount),
          verifier: t.verifier,
          verifierFee: holon(t.verifierFee),
        },
        batch: b ? { batchId: b.id, root: b.root, total: holon(b.total), signature: b.signature } : null,
        leafIndex: t.leafIndex,
        proof: Array.isArray(t.proof) ? (t.proof as string[]) : null,
        redeemedAt: t.redeemedAt ? t.redeemedAt.toISOString() : null,
      };
    });
    res.json({ tickets: views });
  });

  router.get('/:address/rewards', authenticated(auth), async (req, res) => {
    const address = thisNodeOnly(req, res, 'mining rewards');
    const mining = (ctx.chain as ChainViewWithMining).mining;
    if (!mining) {
      throw notFound(
        'mining_not_deployed',
        'this deployment has no EmethMining contract (its deployment file predates the GPU Mining Program), so no mining rewards are posted; redeploy the contracts to enable it',
      );
    }
    const shares = await ctx.prisma.miningShare.findMany({
      where: { node: address, miningEpoch: { postedAt: { not: null } } },
      include: { miningEpoch: true },
      orderBy: { epoch: 'asc' },
      take: 5000,
    });
    let claimedBits: boolean[];
    try {
      claimedBits = await Promise.all(shares.map((s) => mining.hasClaimed(s.epoch, address)));
    } catch (err) {
      throw new HttpError(
        503,
        'chain_unavailable',
        `could not read claims of ${address} from EmethMining (${(err as Error).message}); try again shortly`,
      );
    }
    const nowMs = ctx.now();
    const totals = { claimable: 0n, claimed: 0n, expired: 0n };
    const rewards = shares.map((s, i) => {
      const e = s.miningEpoch;
      const fuel = BigInt(s.fuel.toFixed(0));
      const total = BigInt(e.totalFuel.toFixed(0));
      const pool = e.pool ? BigInt(e.pool.toFixed(0)) : 0n;
      // As EmethMining.rewardOf pays it: rounded down, so the pool is never over-paid.
      const amount = total === 0n ? 0n : (pool * fuel) / total;
      const claimed = claimedBits[i]!;
      if (claimed) totals.claimed += amount;
      else if (e.claimDeadline && e.claimDeadline.getTime() <= nowMs) totals.expired += amount;
      else totals.claimable += amount;
      return {
        epoch: s.epoch,
        fuel: fuel.toString(),
        totalFuel: total.toString(),
        pool: pool.toString(),
        amount: amount.toString(),
        claimed,
        claimDeadline: e.claimDeadline ? e.claimDeadline.toISOString() : null,
        proof: Array.isArray(s.proof) ? (s.proof as string[]) : [],
        txHash: e.txHash,
      };
    });
    res.json({
      node: address,
      mining: mining.address.toLowerCase(),
      rewards,
      totals: {
        claimable: totals.claimable.toString(),
        claimed: totals.claimed.toString(),
        expired: totals.expired.toString(),
      },
    });
  });

  return router;
}
