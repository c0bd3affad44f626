/**
 * The L1 layer as the L2 drives it (paper 7-2; lib/pipeline/layer.ts): the L1 server's
 * registration of an L1 Job's SubJobs, the chain's view of each SubJob, and the Job's chain
 * events read back from EmethCore's own logs. Nothing here believes a participant: a node's or a
 * verifier's transaction counts only as the event the chain emitted for it.
 */
import type { EventLog, Log } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { L1SubJobState, L1SubJobStatus, LayerActivities } from '../../lib/pipeline';
import { SubJobStatus } from '../../lib/types-chain';
import type { EmethCore } from '../../contracts/typed';
import type { L1Activities } from '../chain/l1';
import { refuse } from '../shared/job-rows';
import { l1FailureDigest, l1ResultDigest } from '../../lib/attestations';

export interface LayerDeps {
  prisma: PrismaClient;
  /** The L1 market with the L2's key (L1_SERVER_ROLE); absent where the deployment has no L1. */
  l1?: {
    tx: Pick<L1Activities, 'registerSubJobs' | 'getJob' | 'getSubJob' | 'requestJobFor'>;
    /** EmethCore, for reading its logs. */
    core: EmethCore;
    /** The deployment's block: no EMETH event is older. */
    fromBlock: number;
  };
  logger: Logger;
}

const STATUS: Record<SubJobStatus, L1SubJobStatus> = {
  [SubJobStatus.None]: 'none',
  [SubJobStatus.Open]: 'open',
  [SubJobStatus.Processing]: 'processing',
  [SubJobStatus.Submitted]: 'submitted',
  [SubJobStatus.Verified]: 'verified',
  [SubJobStatus.Failed]: 'failed',
};

/** The events of an L1 Job, by what they name (the first amount that applies is the one shown). */
const AMOUNT_ARGS = ['nodePayout', 'penalty', 'refund', 'amount', 'deposit'] as const;
const ACTOR_ARGS = ['node', 'verifier', 'requester'] as const;

export function createLayerActivities(deps: LayerDeps): LayerActivities {
  const { prisma, logger } = deps;
  const l1 = () => {
    if (!deps.l1) refuse('this L2 has no L1 market configured: submit the Job on layer l2');
    return deps.l1;
  };
  const l1Job = async (jobId: string) => {
    const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId } });
    if (job.layer !== 'l1') refuse(`Job ${jobId} runs on layer ${job.layer}, not l1`);
    return job;
  };

  async function stateOf(jobId: string, index: number): Promise<L1SubJobState> {
    const { tx } = l1();
    const [j, s] = await Promise.all([tx.getJob(jobId), tx.getSubJob(jobId, index)]);
    const status = STATUS[s.status as SubJobStatus] ?? 'none';
    return {
      status,
      node: s.node?.toLowerCase() ?? null,
      retries: s.retries,
      due: status === 'open' ? (j?.deadline ?? 0) : s.deadline,
    };
  }

  return {
    async openSubJobsOnLayer(jobId) {
      const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId } });
      if (job.layer !== 'l1') return null;
      const subs = await prisma.subJob.findMany({ where: { jobId, epoch: 0 }, orderBy: { index: 'asc' } });
      // Shares of the SubJobs' fuel limits, which sum to the Job's: each chain share is exactly its row's.
      await l1().tx.registerSubJobs(
        jobId,
        subs.map((s) => s.fuelLimit.toFixed(0)),
      );
      // The chain's verifier-fee shares are the truth an L1 Job is paid by: the rows show them.
      for (const s of subs) {
        const onChain = await l1().tx.getSubJob(jobId, s.index);
        if (onChain.fuelLimit !== s.fuelLimit.toFixed(0))
          throw new Error(
            `SubJob ${s.index} of ${jobId} has ${onChain.fuelLimit} fuel on chain but ${s.fuelLimit.toFixed(0)} here`,
          );
        await prisma.subJob.update({ where: { id: s.id }, data: { verifierFee: onChain.verifierFee } });
      }
      const processingMs = Number(await l1().core.processingTimeLimit()) * 1000;
      logger.info({ jobId, subJobs: subs.length, processingMs }, 'L1 SubJobs registered');
      return { processingMs };
    },

    l1SubJobState: ({ jobId, index }) => stateOf(jobId, index),

    async checkL1Submission({ task, nodeId, result }) {
      if (!task.l1) return { bound: false, reason: 'the task is not an L1 SubJob' };
      const node = nodeId.toLowerCase();
      const expect = { node, resultDigest: l1ResultDigest(result.signature), fuelUsed: result.fuelUsed };
      const s = await l1().tx.getSubJob(task.jobId, task.l1.index);
      const problem =
        s.node?.toLowerCase() !== node
          ? `the SubJob is held on chain by ${s.node ?? 'nobody'}, not by ${node}`
          : s.status !== SubJobStatus.Submitted && s.status !== SubJobStatus.Verified
            ? `the SubJob is ${SubJobStatus[s.status]} on chain: its node submitted nothing`
            : s.resultDigest !== expect.resultDigest
              ? `the digest submitted on chain (${s.resultDigest}) is not the signed result's (${expect.resultDigest})`
              : s.fuelUsed !== result.fuelUsed
                ? `the fuel submitted on chain (${s.fuelUsed}) is not the signed result's (${result.fuelUsed})`
                : undefined;
      if (!problem) return { bound: true, expect };
      logger.warn(
        { jobId: task.jobId, subJobId: task.subJobId, nodeId: node, problem },
        'L1 submission does not match the result',
      );
      return { bound: false, reason: problem };
    },

    async l1FailureReport({ task, nodeId }) {
      if (!task.l1) return { reported: false, reason: 'the task is not an L1 SubJob' };
      const node = nodeId.toLowerCase();
      const expect = { node, resultDigest: l1FailureDigest(task, node), fuelUsed: '0' };
      const s = await l1().tx.getSubJob(task.jobId, task.l1.index);
      if (
        s.node?.toLowerCase() === node &&
        s.status === SubJobStatus.Submitted &&
        s.resultDigest === expect.resultDigest &&
        s.fuelUsed === '0'
      )
        return { reported: true, expect };
      return {
        reported: false,
        reason: `the chain holds no failure report of ${node} (SubJob ${SubJobStatus[s.status]} by ${s.node ?? 'nobody'})`,
      };
    },

    async openOnChain(jobId) {
      const job = await l1Job(jobId);
      const count = await prisma.subJob.count({ where: { jobId: job.id, epoch: 0 } });
      const chainJob = await l1().tx.getJob(jobId);
      if (!chainJob || chainJob.subJobCount === 0) return [];
      const grace = Number(await l1().core.timeoutGrace());
      const out: { index: number; state: L1SubJobState; timeoutAt: number }[] = [];
      for (let index = 0; index < Math.min(count, chainJob.subJobCount); index++) {
        const state = await stateOf(jobId, index);
        if (state.status === 'open' || state.status === 'processing' || state.status === 'submitted')
          out.push({ index, state, timeoutAt: state.due + (state.status === 'submitted' ? grace : 0) + 1 });
      }
      return out;
    },

    async recordChainSteps(jobId) {
      await l1Job(jobId);
      const { core, fromBlock } = l1();
      // jobId is the first indexed argument of the job events, the second of DepositEscrowed and
      // PenaltyBurned: two log queries catch them all.
      const address = await core.getAddress();
      const provider = core.runner?.provider;
      if (!provider) throw new Error('EmethCore handle has no provider to read logs with');
      // From the last block already recorded for this Job (its logs again: duplicates are skipped).
      const last = await prisma.chainStep.findFirst({ where: { jobId }, orderBy: { blockNumber: 'desc' } });
      const from = Math.max(fromBlock, last?.blockNumber ?? 0);
      const [first, second] = await Promise.all([
        provider.getLogs({ address, fromBlock: from, topics: [null, jobId] }),
        provider.getLogs({ address, fromBlock: from, topics: [null, null, jobId] }),
      ]);
      const rows = [...first, ...second].flatMap((log) => stepOf(core, jobId, log) ?? []);
      if (rows.length === 0) return [];
      const known = new Set(
        (
          await prisma.chainStep.findMany({
            where: { id: { in: rows.map((r) => r.id) } },
            select: { id: true },
          })
        ).map((r) => r.id),
      );
      const fresh = rows.filter((r) => !known.has(r.id));
      await prisma.chainStep.createMany({ data: fresh, skipDuplicates: true });
      return fresh
        .sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex)
        .map(({ event, subJobIndex, actor, txHash, blockNumber }) => ({
          event,
          subJobIndex,
          actor,
          txHash,
          blockNumber,
        }));
    },
  };
}

/** One EmethCore log as a ChainStep row, or null for an event of another contract or shape. */
function stepOf(core: EmethCore, jobId: string, log: Log | EventLog) {
  const parsed = core.interface.parseLog({ topics: [...log.topics], data: log.data });
  if (!parsed) return null;
  const arg = (name: string): unknown => {
    const i = parsed.fragment.inputs.findIndex((p) => p.name === name);
    return i < 0 ? undefined : parsed.args[i];
  };
  const index = arg('index');
  const actor = ACTOR_ARGS.map((a) => arg(a)).find((a) => typeof a === 'string') as string | undefined;
  const amount = AMOUNT_ARGS.map((a) => arg(a)).find((a) => typeof a === 'bigint') as bigint | undefined;
  return {
    id: `${log.transactionHash}:${log.index}`,
    jobId,
    subJobIndex: typeof index === 'bigint' ? Number(index) : null,
    event: parsed.name,
    actor: actor?.toLowerCase() ?? null,
    amount: amount?.toString() ?? null,
    txHash: log.transactionHash,
    blockNumber: log.blockNumber,
    logIndex: log.index,
  };
}
