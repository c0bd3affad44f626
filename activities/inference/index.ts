/**
 * The deployment workflow's activities on `emeth-l2` (paper 5-1): the budget committed on
 * EmethCore, replicas placed on warm nodes and retired, canaries, metered windows closed into the
 * same tickets the Signer batches, verifier verdicts on sampled requests acted on, settlement.
 */
import { AbiCoder, ZeroAddress, keccak256 } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import { big, withRequesterLock } from '../../prisma/ledger';
import { hashTicket } from '../../lib/tickets';
import { DEFAULT_FEE_PARAMS } from '../../lib/fees';
import { ProgramId, getProgramSpec } from '../../lib/programs';
import { withOverrides, type VerificationPolicy } from '../../lib/verification-policy';
import { toWire, type WireTensor } from '../../lib/inference';
import type { L2Chain } from '../chain';
import { refuse } from '../shared/job-rows';
import { freeToCommit } from '../ledger/free-deposit';
import { penaltyFor } from '../dispatcher/penalties';
import { leasedElsewhere, leasedNodesOf } from '../lease/occupancy';
import type { BlobStore } from '../storage';
import type { InferenceRouter } from './router';
import { canaryInputs } from './router';
import type { ServingHub } from './hub';
import type { InferenceActivities, InferenceSettings, PlacedReplica } from '../../lib/pipeline/inference';
export type { InferenceActivities, InferenceVerdict } from '../../lib/pipeline/inference';
import { tensorsDigest } from '../../lib/inference';

export interface InferenceDeps {
  prisma: PrismaClient;
  chain: Pick<L2Chain, 'freeDeposit' | 'commit' | 'settleCommitment' | 'stakeOf' | 'penalize' | 'fine'>;
  store: Pick<BlobStore, 'put'>;
  router: InferenceRouter;
  hub: ServingHub;
  nodesOnline(nodeIds: string[]): Promise<Set<string>>;
  verification?: Partial<VerificationPolicy>;
  settings: InferenceSettings;
  logger: Logger;
}

/** A window's ticket for one node: its own bytes32 "SubJob" id under the deployment's Job id. */
export function windowTicketId(deploymentId: string, window: number, nodeId: string): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['bytes32', 'string', 'uint256', 'address'],
      [deploymentId, 'window', window, nodeId],
    ),
  );
}

export function createInferenceActivities(deps: InferenceDeps): InferenceActivities {
  const { prisma, logger, router, hub } = deps;
  const policy = withOverrides(getProgramSpec(ProgramId.ONNX_INFERENCE).verification, deps.verification);
  const load = async (deploymentId: string) => {
    const d = await prisma.deployment.findUnique({ where: { id: deploymentId } });
    if (!d) refuse(`no deployment ${deploymentId}`);
    return d;
  };

  return {
    async inferenceSettings() {
      return deps.settings;
    },

    async reserveDeployment({ deploymentId }) {
      const d = await load(deploymentId);
      const budget = big(d.budget);
      await withRequesterLock(prisma, d.requester, async (tx) => {
        if (await tx.ledgerEntry.findUnique({ where: { id: `${deploymentId}:commit` } })) return;
        if (!(await tx.ledgerEntry.findUnique({ where: { id: `${deploymentId}:reserve` } }))) {
          const free = await freeToCommit({ prisma: tx, chain: deps.chain }, d.requester, deploymentId);
          if (free < budget)
            refuse(
              `the requester's free deposit (${free} holon) does not cover the budget (${budget} holon): deposit more on EmethCore`,
            );
          await tx.ledgerEntry.create({
            data: {
              id: `${deploymentId}:reserve`,
              requester: d.requester,
              jobId: deploymentId,
              kind: 'reserve',
              amount: budget.toString(),
            },
          });
        }
        try {
          await deps.chain.commit(
            { requester: d.requester, jobId: deploymentId, amount: budget, deadline: d.commitDeadline },
            d.commitSignature,
          );
        } catch (err) {
          refuse(`EmethCore refused the deployment's commitment: ${(err as Error).message}`);
        }
        await tx.ledgerEntry.create({
          data: {
            id: `${deploymentId}:commit`,
            requester: d.requester,
            jobId: deploymentId,
            kind: 'commit',
            amount: budget.toString(),
          },
        });
      });
      logger.info({ deploymentId, budget: budget.toString() }, 'deployment budget committed');
      return { budget: budget.toString() };
    },

    async setDeploymentStatus({ deploymentId, status, reason }) {
      await prisma.deployment.update({
        where: { id: deploymentId },
        data: { status, ...(reason ? { reason } : {}) },
      });
      await router.refresh(deploymentId);
    },

    async placeReplicas({ deploymentId, want }) {
      const d = await load(deploymentId);
      if (want <= 0) return [];
      const current = await prisma.replica.findMany({
        where: { deploymentId, status: { in: ['loading', 'serving'] } },
        select: { nodeId: true },
      });
      const failedHere = await prisma.replica.findMany({
        where: { deploymentId, status: 'failed', reason: { startsWith: 'lied' } },
        select: { nodeId: true },
      });
      const exclude = new Set([...current, ...failedHere].map((r) => r.nodeId));
      const taken = await leasedElsewhere(prisma, d.requester);
      const allowed = d.leaseId ? new Set(await leasedNodesOf(prisma, d.leaseId)) : undefined;
      const nodes = await prisma.node.findMany({
        where: { capabilityClass: d.capabilityClass, status: 'online', encryptionKey: { not: null } },
        orderBy: [{ completed: 'desc' }, { registeredAt: 'asc' }],
      });
      const eligible = nodes.filter(
        (n) =>
          !exclude.has(n.id) && !taken.has(n.id) && (!allowed || allowed.has(n.id)) && hub.connected(n.id),
      );
      const online = await deps.nodesOnline(eligible.map((n) => n.id));
      const placed: PlacedReplica[] = [];
      for (const n of eligible) {
        if (placed.length >= want) break;
        if (!online.has(n.id)) continue;
        const generation = await prisma.replica.count({ where: { deploymentId, nodeId: n.id } });
        const replicaId = `${deploymentId}:${n.id}:${generation}`;
        await prisma.replica.create({
          data: { id: replicaId, deploymentId, nodeId: n.id, status: 'loading' },
        });
        placed.push({
          replicaId,
          nodeId: n.id,
          nodeKey: n.encryptionKey!,
          spec: { deploymentId, model: d.model },
        });
      }
      logger.info({ deploymentId, want, placed: placed.map((p) => p.nodeId) }, 'replicas placed');
      return placed;
    },

    async replicaLoaded({ replicaId, ok, reason }) {
      const r = await prisma.replica.update({
        where: { id: replicaId },
        data: ok
          ? { status: 'serving' }
          : { status: 'failed', reason: reason ?? 'could not load the model', endedAt: new Date() },
      });
      // The first replica up makes the deployment serving, in the same step the router learns of
      // it: a caller that sees a serving replica is never refused as "deploying".
      if (ok)
        await prisma.deployment.updateMany({
          where: { id: r.deploymentId, status: 'deploying' },
          data: { status: 'serving' },
        });
      await router.refresh(r.deploymentId);
      logger.info(
        { deploymentId: r.deploymentId, nodeId: r.nodeId, ok, reason },
        ok ? 'replica serving' : 'replica failed to load',
      );
    },

    async checkReplicas({ deploymentId }) {
      const serving = await prisma.replica.findMany({ where: { deploymentId, status: 'serving' } });
      // Gone: its stream closed, or its node came back without the session (it restarted).
      const unloaded = new Set(router.takeUnloaded(deploymentId));
      const lost = serving.filter((r) => !hub.connected(r.nodeId) || unloaded.has(r.nodeId));
      if (lost.length > 0) {
        await prisma.replica.updateMany({
          where: { id: { in: lost.map((r) => r.id) } },
          data: {
            status: 'failed',
            reason: 'its node closed the serving stream or lost the session',
            endedAt: new Date(),
          },
        });
        await router.refresh(deploymentId);
        logger.warn({ deploymentId, lost: lost.map((r) => r.nodeId) }, 'replicas lost');
      }
      return {
        serving: serving.filter((r) => !lost.includes(r)).map((r) => r.nodeId),
        lost: lost.map((r) => r.nodeId),
      };
    },

    async retireReplicas({ deploymentId, count, all }) {
      const serving = await prisma.replica.findMany({
        where: { deploymentId, status: { in: ['serving', 'loading'] } },
        orderBy: { startedAt: 'desc' },
      });
      const retire = all ? serving : serving.slice(0, Math.max(0, count ?? 0));
      if (retire.length === 0) return [];
      await prisma.replica.updateMany({
        where: { id: { in: retire.map((r) => r.id) } },
        data: { status: 'stopped', endedAt: new Date() },
      });
      await router.refresh(deploymentId);
      logger.info({ deploymentId, retired: retire.map((r) => r.nodeId) }, 'replicas retired');
      const keys = await prisma.node.findMany({
        where: { id: { in: retire.map((r) => r.nodeId) } },
        select: { id: true, encryptionKey: true },
      });
      const keyOf = new Map(keys.map((n) => [n.id, n.encryptionKey]));
      return retire.map((r) => ({ nodeId: r.nodeId, nodeKey: keyOf.get(r.nodeId) ?? null }));
    },

    async sendCanaries({ deploymentId, window }) {
      const model = await router.modelOf(deploymentId);
      const serving = await prisma.replica.findMany({ where: { deploymentId, status: 'serving' } });
      let sent = 0;
      for (const r of serving) {
        const inputs = canaryInputs(model, 1);
        let outputs: WireTensor[];
        try {
          outputs = (await router.probe(deploymentId, r.nodeId, inputs)).map(toWire);
        } catch (err) {
          logger.warn({ deploymentId, nodeId: r.nodeId, err: (err as Error).message }, 'canary unanswered');
          continue;
        }
        const blob = await deps.store.put(
          new TextEncoder().encode(JSON.stringify({ inputs: inputs.map(toWire), outputs })),
        );
        await prisma.inferenceRequest
          .create({
            data: {
              id: keccak256(
                AbiCoder.defaultAbiCoder().encode(
                  ['string', 'bytes32', 'uint256', 'address'],
                  ['canary', deploymentId, window, r.nodeId],
                ),
              ),
              deploymentId,
              nodeId: r.nodeId,
              rows: 1,
              fuel: '0',
              amount: '0',
              inputDigest: tensorsDigest(inputs),
              outputDigest: '',
              canary: true,
              sampled: true,
              sampleBlob: blob,
            },
          })
          .catch(() => undefined); // a retried activity finds its canary recorded
        sent++;
      }
      return sent;
    },

    async closeWindow({ deploymentId, window }) {
      const d = await load(deploymentId);
      await router.flush();
      const requests = await prisma.inferenceRequest.count({
        where: { deploymentId, canary: false, window: null },
      });
      const billable = await prisma.inferenceRequest.findMany({
        where: { deploymentId, canary: false, window: null, OR: [{ sampled: false }, { valid: true }] },
        select: { id: true, nodeId: true, amount: true },
      });
      const perNode = new Map<string, bigint>();
      for (const r of billable) perNode.set(r.nodeId, (perNode.get(r.nodeId) ?? 0n) + big(r.amount));
      let billed = 0n;
      const writes = [];
      for (const [node, amount] of perNode) {
        if (amount === 0n) continue;
        billed += amount;
        const ticket = {
          jobId: deploymentId,
          subJobId: windowTicketId(deploymentId, window, node),
          node,
          requester: d.requester,
          amount,
          verifier: ZeroAddress.toLowerCase(),
          verifierFee: 0n,
        };
        writes.push(
          prisma.ticket.upsert({
            where: { subJobId_role: { subJobId: ticket.subJobId, role: 'node' } },
            create: {
              id: hashTicket(ticket),
              jobId: deploymentId,
              subJobId: ticket.subJobId,
              role: 'node',
              node,
              requester: d.requester,
              amount: amount.toString(),
              verifier: ticket.verifier,
              verifierFee: '0',
            },
            update: {},
          }),
        );
      }
      writes.push(
        prisma.inferenceRequest.updateMany({
          where: { id: { in: billable.map((r) => r.id) } },
          data: { window },
        }),
        prisma.deployment.update({
          where: { id: deploymentId },
          data: { charged: { increment: billed.toString() } },
        }),
      );
      // One transaction: a retried window finds its tickets and its requests marked, and bills nothing twice.
      const already = await prisma.ticket.findFirst({
        where: {
          jobId: deploymentId,
          subJobId: { in: [...perNode.keys()].map((n) => windowTicketId(deploymentId, window, n)) },
        },
      });
      if (!already) await prisma.$transaction(writes);
      const samples = await prisma.inferenceRequest.findMany({
        where: { deploymentId, sampled: true, valid: null, sampleBlob: { not: null } },
        select: { id: true, nodeId: true, sampleBlob: true },
        take: 100,
      });
      if (billed > 0n)
        logger.info(
          { deploymentId, window, billed: billed.toString(), tickets: perNode.size },
          'inference window ticketed',
        );
      return {
        window,
        model: d.model,
        requests,
        billed: billed.toString(),
        samples: samples.map((s) => ({ requestId: s.id, nodeId: s.nodeId, blob: s.sampleBlob! })),
      };
    },

    async recordInferenceVerdicts({ deploymentId, verifier, verdicts }) {
      const lies: string[] = [];
      for (const v of verdicts) {
        const row = await prisma.inferenceRequest.findUnique({ where: { id: v.requestId } });
        if (!row || row.valid !== null) continue;
        await prisma.inferenceRequest.update({ where: { id: v.requestId }, data: { valid: v.valid } });
        if (v.valid) continue;
        lies.push(row.nodeId);
        // The fine scales with what the node earned from this deployment (what lying stood to gain).
        const earned = await prisma.inferenceRequest.aggregate({
          where: { deploymentId, nodeId: row.nodeId, canary: false },
          _sum: { amount: true },
        });
        const d = await load(deploymentId);
        const feeLimit = big(earned._sum.amount) + big(d.price);
        const { penalty } = await penaltyFor(deps.chain, DEFAULT_FEE_PARAMS, {
          kind: 'reject',
          node: row.nodeId,
          feeLimit,
          reason: `emeth:inference:${v.requestId}`,
          policy,
          prover: verifier,
        });
        await prisma.replica.updateMany({
          where: { deploymentId, nodeId: row.nodeId, status: { in: ['serving', 'loading'] } },
          data: {
            status: 'failed',
            reason: `lied: ${v.reason ?? 'outputs differ from the verifier’s'}`,
            endedAt: new Date(),
          },
        });
        await router.refresh(deploymentId);
        logger.warn(
          {
            deploymentId,
            nodeId: row.nodeId,
            requestId: v.requestId,
            canary: row.canary,
            penalty: penalty.toString(),
            reason: v.reason,
          },
          'a replica lied: fined and replaced',
        );
      }
      return { lies };
    },

    async settleDeployment({ deploymentId, status, reason }) {
      const d = await load(deploymentId);
      if (await prisma.ledgerEntry.findUnique({ where: { id: `${deploymentId}:charge` } }))
        return { charged: d.charged.toFixed(0), refunded: d.refunded.toFixed(0) };
      const tickets = await prisma.ticket.aggregate({
        where: { jobId: deploymentId },
        _sum: { amount: true },
      });
      const charged = big(tickets._sum.amount);
      const committed = await prisma.ledgerEntry.findUnique({ where: { id: `${deploymentId}:commit` } });
      const reserved = committed ? big(committed.amount) : 0n;
      if (committed) await deps.chain.settleCommitment(d.requester, deploymentId, charged);
      const refunded = reserved - charged;
      const entry = (kind: string, amount: bigint) =>
        prisma.ledgerEntry.upsert({
          where: { id: `${deploymentId}:${kind}` },
          create: {
            id: `${deploymentId}:${kind}`,
            requester: d.requester,
            jobId: deploymentId,
            kind,
            amount: amount.toString(),
          },
          update: {},
        });
      await prisma.$transaction([
        ...(committed ? [entry('charge', charged), entry('release', refunded)] : []),
        prisma.replica.updateMany({
          where: { deploymentId, status: { in: ['serving', 'loading', 'draining'] } },
          data: { status: 'stopped', endedAt: new Date() },
        }),
        prisma.deployment.update({
          where: { id: deploymentId },
          data: {
            status,
            charged: charged.toString(),
            refunded: refunded.toString(),
            stoppedAt: new Date(),
            ...(reason ? { reason } : {}),
          },
        }),
      ]);
      await router.refresh(deploymentId);
      logger.info(
        { deploymentId, status, charged: charged.toString(), refunded: refunded.toString() },
        'deployment settled',
      );
      return { charged: charged.toString(), refunded: refunded.toString() };
    },
  };
}
