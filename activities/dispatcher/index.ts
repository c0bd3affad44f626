/**
 * The Dispatcher (DESIGN §3): chooses the node that runs a SubJob, opens the attempt it is handed
 * and closes it with its outcome, burning the penalty of a timeout, decline or rejection once.
 */
import { withOverrides, type VerificationPolicy } from '../../lib/verification-policy';
import type { TypedDataDomain } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { DispatcherActivities, NodeChoice, NodeTask } from '../../lib/pipeline';
import type { AttemptOutcome } from '../../lib/types';
import { DEFAULT_FEE_PARAMS, type FeeParams } from '../../lib/fees';
import { getProgramSpec, type ShardRef } from '../../lib/programs';
import { attemptId } from '../../lib/ids';
import { big } from '../../prisma/ledger';
import type { L2Chain } from '../chain';
import { jobParams, refuse, runParamsOf } from '../shared/job-rows';
import { modelOfEpoch } from '../aggregator/checkpoints';
import { declineClaimOf, declineSigner } from '../../lib/attestations';
import { rankNodes } from './ranking';
import { leasedElsewhere } from '../lease/occupancy';
import { attemptStakeKey, penaltyKindOf, penaltyFor, worstPenaltyOf } from './penalties';

export interface DispatcherDeps {
  prisma: PrismaClient;
  chain: Pick<L2Chain, 'stakeOf' | 'penalize' | 'fine' | 'lockStake' | 'releaseStake'>;
  /** Which of these nodes have a worker polling their queue right now. */
  nodesOnline(nodeIds: string[]): Promise<Set<string>>;
  feeParams?: FeeParams;
  /** The EIP-712 domain a node's decline is signed under (EmethCore's). */
  domain: TypedDataDomain;
  /**
   * When this L2 process started: an attempt opened before it overlapped an L2 outage (the node
   * edge lives in the L2), so its timeout is not held against the node.
   */
  startedAt?: Date;
  /** The deployment's overrides of the programs' verification policies (fines, check rates). */
  verification?: Partial<VerificationPolicy>;
  /** Told of every attempt closed here (operator metrics). */
  onAttemptClosed?: (outcome: AttemptOutcome, seconds: number) => void;
  logger: Logger;
}

export function createDispatcherActivities(deps: DispatcherDeps): DispatcherActivities {
  const { prisma, chain, logger } = deps;
  const feeParams = deps.feeParams ?? DEFAULT_FEE_PARAMS;
  const policyOf = (programId: number) =>
    withOverrides(getProgramSpec(programId).verification, deps.verification);

  const subJobWithJob = (subJobId: string) =>
    prisma.subJob.findUniqueOrThrow({ where: { id: subJobId }, include: { job: true } });

  /** What attempt `attempt` of a SubJob hands its node (the same on every call: it is the assignment). */
  async function taskOf(sub: Awaited<ReturnType<typeof subJobWithJob>>, attempt: number): Promise<NodeTask> {
    const runParams = runParamsOf(getProgramSpec(sub.job.programId).runParams, jobParams(sub.job));
    return {
      jobId: sub.jobId,
      subJobId: sub.id,
      programId: sub.programId,
      shard: JSON.parse(sub.shard) as ShardRef,
      modelBlobId: await modelOfEpoch(prisma, sub.job, sub.epoch),
      ...(runParams ? { params: runParams } : {}),
      fuelLimit: sub.fuelLimit.toFixed(0),
      attempt,
      // On L1 the node takes the SubJob on chain itself, by its index there.
      ...(sub.job.layer === 'l1' ? { l1: { index: sub.index } } : {}),
    };
  }

  /**
   * L1: the penalty EmethCore burned from `node` for this SubJob that no other attempt has claimed
   * (the chain's reject, timeout or the node's own decline), read from the Job's recorded chain steps.
   */
  async function l1PenaltyOf(
    sub: Awaited<ReturnType<typeof subJobWithJob>>,
    node: string,
  ): Promise<{ penalty: bigint; penaltyTx: string } | undefined> {
    const claimed = (
      await prisma.attempt.findMany({
        where: { subJobId: sub.id, penaltyTx: { not: null } },
        select: { penaltyTx: true },
      })
    ).map((a) => a.penaltyTx!);
    const step = await prisma.chainStep.findFirst({
      where: {
        jobId: sub.jobId,
        subJobIndex: sub.index,
        event: 'PenaltyBurned',
        actor: node,
        txHash: { notIn: claimed },
      },
      orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
    });
    return step ? { penalty: big(step.amount), penaltyTx: step.txHash } : undefined;
  }

  return {
    async chooseNode({ jobId, subJobId, capabilityClass, exclude }): Promise<NodeChoice | null> {
      const excluded = exclude.map((e) => e.toLowerCase());
      const candidates = await prisma.node.findMany({
        // A node that registered no X25519 key cannot be handed a sealed task.
        where: { capabilityClass, status: 'online', id: { notIn: excluded }, encryptionKey: { not: null } },
        orderBy: [{ completed: 'desc' }, { registeredAt: 'asc' }],
      });
      if (candidates.length === 0) return null;
      const sub = await subJobWithJob(subJobId);
      // A node a lease holds serves only that lease's requester (paper 5-2).
      const leased = await leasedElsewhere(prisma, sub.job.requester);
      const free = candidates.filter((c) => !leased.has(c.id));
      if (free.length === 0) return null;
      const online = await deps.nodesOnline(free.map((c) => c.id));
      // A node must be able to pay the worst penalty for this SubJob (a lie's fine) out of its stake.
      const worstPenalty = worstPenaltyOf(
        big(sub.fuelLimit) * big(sub.job.fuelPrice),
        feeParams,
        policyOf(sub.job.programId),
      );
      const eligible = [];
      for (const c of free) {
        if (!online.has(c.id)) continue;
        if ((await chain.stakeOf(c.id)) < worstPenalty) continue;
        eligible.push(c);
      }
      const pick = (await rankNodes(prisma, jobId, eligible))[0];
      if (!pick) return null;
      logger.info({ jobId, subJobId, nodeId: pick.id }, 'node chosen');
      return { nodeId: pick.id, trackRecord: pick.completed };
    },

    async openAttempt({ subJobId, attempt, nodeId, canary }) {
      const sub = await subJobWithJob(subJobId);
      // The first opening of an attempt fixes its node: after an L2 crash the workflow may choose
      // again, but the attempt (and the stake it locked on chain) stays with the node of record.
      const row = await prisma.attempt.upsert({
        where: { id: attemptId(subJobId, attempt) },
        create: {
          id: attemptId(subJobId, attempt),
          subJobId,
          nodeId: nodeId.toLowerCase(),
          attempt,
          ...(canary ? { canary } : {}),
        },
        update: {},
      });
      const assigned = row.nodeId;
      if (!row.canary)
        await prisma.subJob.update({
          where: { id: subJobId },
          data: { attempts: attempt, nodeId: assigned },
        });
      const node = await prisma.node.findUniqueOrThrow({ where: { id: assigned } });
      if (!node.encryptionKey) refuse(`node ${assigned} registered no X25519 key to seal its task to`);
      // On L1 the node's own `process` locks its deposit on chain: the L2 locks nothing.
      if (sub.job.layer === 'l1')
        return { task: await taskOf(sub, attempt), nodeKey: node.encryptionKey, nodeId: assigned };
      // The attempt holds back its worst penalty on EmethCore: an unstake request cannot take it.
      const worst = worstPenaltyOf(
        big(sub.fuelLimit) * big(sub.job.fuelPrice),
        feeParams,
        policyOf(sub.job.programId),
      );
      await chain.lockStake(assigned, attemptStakeKey(attemptId(subJobId, attempt)), worst);
      return { task: await taskOf(sub, attempt), nodeKey: node.encryptionKey, nodeId: assigned };
    },

    async closeAttempt(input) {
      const { subJobId, nodeId, attempt } = input;
      let { outcome, reason } = input;
      const id = attemptId(subJobId, attempt);
      const row = await prisma.attempt.findUnique({ where: { id } });
      if (!row) return; // never opened (cancelled before the node was asked)
      const node = nodeId.toLowerCase();
      const sub = await subJobWithJob(subJobId);
      const outage = outcome === 'timeout' && deps.startedAt !== undefined && row.startedAt < deps.startedAt;
      if (outage)
        reason = `${reason ?? 'the node did not answer'} during an L2 restart: not held against the node`;
      if (outcome === 'declined') {
        // A decline counts against a node only when that node signed it for this attempt.
        const claim = declineClaimOf(await taskOf(sub, attempt), node);
        const signer = input.declineSignature
          ? declineSigner(deps.domain, claim, input.declineSignature)
          : undefined;
        if (signer !== node) {
          outcome = 'timeout';
          reason = `no answer: a decline not signed by the assigned node ${node} for attempt ${attempt} (${reason ?? ''})`;
        }
      }
      const l1 = sub.job.layer === 'l1';
      const kind = outage || l1 ? undefined : penaltyKindOf(outcome);
      let burned: { penalty: bigint; penaltyTx?: string } | undefined;
      // On L1 the chain fined the node (its rates, burned): the attempt records what it burned.
      if (l1 && penaltyKindOf(outcome)) burned = await l1PenaltyOf(sub, node);
      if (kind) {
        // Keyed by the attempt: a retried activity never burns twice.
        burned = await penaltyFor(chain, feeParams, {
          kind,
          node,
          feeLimit: big(sub.fuelLimit) * big(sub.job.fuelPrice),
          reason: attemptStakeKey(id),
          policy: policyOf(sub.job.programId),
          ...(input.prover ? { prover: input.prover } : {}),
        });
        logger.warn(
          {
            jobId: sub.jobId,
            subJobId,
            nodeId: node,
            outcome,
            penalty: burned.penalty.toString(),
            prover: input.prover,
            reason,
          },
          'node penalised',
        );
      }
      // No penalty: the attempt's lock goes back to the node's free stake (a penalty closed it).
      if (!kind && !l1) await chain.releaseStake(attemptStakeKey(id));
      if (row.outcome !== null) return;
      await prisma.$transaction([
        prisma.attempt.update({
          where: { id },
          data: {
            outcome,
            reason,
            endedAt: new Date(),
            ...(burned ? { penalty: burned.penalty.toString(), penaltyTx: burned.penaltyTx } : {}),
          },
        }),
        prisma.node.update({
          where: { id: node },
          data:
            outcome === 'verified'
              ? { completed: { increment: 1 } }
              : kind || burned
                ? { failures: { increment: 1 } }
                : {},
        }),
      ]);
      deps.onAttemptClosed?.(outcome, (Date.now() - row.startedAt.getTime()) / 1000);
    },
  };
}
