import { ApplicationFailure } from '@temporalio/common';
import { verifyMessage, type TypedDataDomain } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type {
  DispatchSettings,
  JobPlan,
  L2Activities,
  NodeChoice,
  NodeTask,
  SubJobPlan,
} from '../../lib/pipeline';
import { nodeResultMessage, verdictMessage } from '../../lib/pipeline';
import type { AttemptOutcome, JobStatus, SubJobStatus } from '../../lib/types';
import { DEFAULT_FEE_PARAMS, penaltyOf, splitShares, type FeeParams } from '../../lib/fees';
import { TicketTree, hashTicket, signBatch, type Ticket, type TypedDataSigner } from '../../lib/tickets';
import { getProgramSpec, type ProgramModule, type ShardRef } from '../../lib/programs';
import type { L2Chain } from './l2-chain';
import type { BlobStore } from '../storage';
import { big, committedDeposit, ticketOfRow } from '../../prisma/ledger';
import { attemptId, subJobIdOf } from '../../lib/ids';

export interface L2Deps {
  prisma: PrismaClient;
  store: BlobStore;
  programFor(programId: number): ProgramModule;
  chain: L2Chain;
  /** Signs ticket batches (an address in EmethCore's signer set). */
  signer: TypedDataSigner & { getAddress(): Promise<string> };
  domain: TypedDataDomain;
  /** Addresses allowed to sign verdicts. */
  verifiers: readonly string[];
  /** Which of these nodes have a worker polling their queue right now. */
  nodesOnline(nodeIds: string[]): Promise<Set<string>>;
  logger: Logger;
  feeParams?: FeeParams;
  /** Attempts per SubJob before it fails (SPEC: maxRetries, default 3). */
  maxAttempts?: number;
  /** Children a Job runs at once. */
  window?: number;
  dispatch: DispatchSettings;
  /**
   * EMETH Cache (activities/chain-cache): when given, redeemed tickets are found in its mirror of
   * `TicketRedeemed` events, one getLogs per Signer interval, instead of one `isRedeemed` call per
   * unredeemed ticket.
   */
  chainCache?: { syncOnce(): Promise<unknown> };
}

const PENALISED: Partial<Record<AttemptOutcome, 'decline' | 'timeout' | 'reject'>> = {
  declined: 'decline',
  timeout: 'timeout',
  rejected: 'reject',
};

/** A refusal the workflow must not retry (the request itself is wrong). */
function refuse(message: string): never {
  throw ApplicationFailure.nonRetryable(message, 'EmethRefused');
}

export function createL2Activities(deps: L2Deps): L2Activities {
  const { prisma, chain, logger } = deps;
  const feeParams = deps.feeParams ?? DEFAULT_FEE_PARAMS;
  const verifiers = new Set(deps.verifiers.map((v) => v.toLowerCase()));

  async function job(jobId: string) {
    const j = await prisma.job.findUnique({ where: { id: jobId } });
    if (!j) refuse(`no Job ${jobId}`);
    return j;
  }

  /** Deposit the requester can still commit: on-chain free deposit − what the L2 already committed. */
  async function available(requester: string, exceptJob?: string): Promise<bigint> {
    const [free, committed] = await Promise.all([
      chain.freeDeposit(requester),
      committedDeposit(prisma, requester, exceptJob),
    ]);
    return free - committed;
  }

  /** Tickets redeemed since the last Signer interval stop counting against their requester's deposit. */
  async function markRedeemedTickets(): Promise<void> {
    const unredeemed = await prisma.ticket.findMany({ where: { batchId: { not: null }, redeemedAt: null } });
    if (unredeemed.length === 0) return;
    const batches = await prisma.batch.findMany({
      where: { id: { in: [...new Set(unredeemed.map((t) => t.batchId!))] } },
    });
    const roots = new Map(batches.map((b) => [b.id, b.root.toLowerCase()]));
    const leafOf = (t: (typeof unredeemed)[number]) => `${roots.get(t.batchId!)!}:${t.leafIndex!}`;
    let redeemed: typeof unredeemed;
    if (deps.chainCache) {
      await deps.chainCache.syncOnce();
      const seen = await prisma.chainTicketRedemption.findMany({
        where: { id: { in: unredeemed.map(leafOf) } },
        select: { id: true },
      });
      const ids = new Set(seen.map((r) => r.id));
      redeemed = unredeemed.filter((t) => ids.has(leafOf(t)));
    } else {
      redeemed = [];
      for (const t of unredeemed)
        if (await chain.isRedeemed(roots.get(t.batchId!)!, t.leafIndex!)) redeemed.push(t);
    }
    if (redeemed.length > 0) {
      await prisma.ticket.updateMany({
        where: { id: { in: redeemed.map((t) => t.id) } },
        data: { redeemedAt: new Date() },
      });
    }
  }

  /** Grants `reader` read access to a blob, recorded as an upload on its behalf (see api/blob-access). */
  async function share(blob: string, reader: string): Promise<void> {
    const size = await deps.store.size(blob);
    await prisma.blob.upsert({
      where: { id_uploader: { id: blob, uploader: reader.toLowerCase() } },
      create: { id: blob, uploader: reader.toLowerCase(), size },
      update: {},
    });
  }

  /** The model an epoch trains from: the initial model, then the previous epoch's checkpoint. */
  async function globalModelOf(j: { id: string; params: unknown }, epoch: number): Promise<string> {
    if (epoch === 0) return (j.params as Record<string, string>).initialModel!;
    const ck = await prisma.checkpoint.findUnique({ where: { id: `${j.id}:${epoch - 1}` } });
    if (!ck) refuse(`epoch ${epoch} of ${j.id} cannot start: epoch ${epoch - 1} has no checkpoint`);
    return ck.model;
  }

  return {
    async planJob(jobId): Promise<Omit<JobPlan, 'subJobs'>> {
      const j = await job(jobId);
      return {
        jobId,
        dispatch: deps.dispatch,
        requester: j.requester,
        programId: j.programId,
        capabilityClass: j.capabilityClass,
        deadline: j.deadline.getTime(),
        maxAttempts: deps.maxAttempts ?? 3,
        window: Math.max(1, Math.min(j.numParallel, deps.window ?? 8)),
        numEpoch: j.numEpoch,
        ...(isTraining(j.programId)
          ? { keyholderQueue: `${deps.dispatch.keyholderQueuePrefix}${j.requester.toLowerCase()}` }
          : {}),
      };
    },

    async reserveJob(jobId) {
      const j = await job(jobId);
      const key = `${jobId}:reserve`;
      const existing = await prisma.ledgerEntry.findUnique({ where: { id: key } });
      if (existing) return { reserved: existing.amount.toFixed(0) };
      const amount = big(j.fuelLimit) * big(j.fuelPrice) + big(j.verifierFee);
      const free = await available(j.requester, jobId);
      if (free < amount) {
        refuse(
          `the requester's free deposit (${free} holon) does not cover this Job (${amount} holon): deposit more on EmethCore`,
        );
      }
      await prisma.$transaction([
        prisma.ledgerEntry.create({
          data: { id: key, requester: j.requester, jobId, kind: 'reserve', amount: amount.toString() },
        }),
        prisma.job.update({ where: { id: jobId }, data: { reserved: amount.toString() } }),
      ]);
      logger.info({ jobId, reserved: amount.toString() }, 'deposit reserved');
      return { reserved: amount.toString() };
    },

    async splitJob(jobId, epoch = 0): Promise<SubJobPlan[]> {
      const j = await job(jobId);
      const spec = getProgramSpec(j.programId);
      const params = j.params as Record<string, string>;
      const existing = await prisma.subJob.count({ where: { jobId, epoch } });
      if (existing === 0) {
        // Epoch 0 splits the dataset; later epochs train on the same shards from the newest model.
        let shards: { index: number; shard: string; rowStart: number; rows: number; fuelRequired?: string }[];
        if (epoch === 0) {
          const split = await deps.programFor(j.programId).split({
            programId: j.programId,
            datasetBlobId: j.dataset,
            modelBlobId: isTraining(j.programId) ? params.initialModel! : params.model!,
            numParallel: j.splitAllowed ? j.numParallel : 1,
            fuelLimit: epochShare(big(j.fuelLimit), 0, j.numEpoch).toString(),
            params: runParamsOf(j.programId, params),
          });
          shards = split.shards.map((s) => ({ ...s, shard: JSON.stringify(shardRefOf(s)) }));
        } else {
          shards = await prisma.subJob.findMany({ where: { jobId, epoch: 0 }, orderBy: { index: 'asc' } });
        }
        // The same shares EmethCore computes for L1 SubJobs (in proportion to shard size); a
        // training Job's limits are divided over its epochs first.
        const shares = splitShares(
          epochShare(big(j.fuelLimit), epoch, j.numEpoch),
          epochShare(big(j.verifierFee), epoch, j.numEpoch),
          shards.map((s) => BigInt(s.rows)),
        );
        const tooLow = shards.findIndex(
          (s, i) => s.fuelRequired !== undefined && BigInt(s.fuelRequired) > shares.fuelLimits[i]!,
        );
        if (tooLow >= 0) {
          refuse(
            `fuelLimit is too low: shard ${tooLow} needs ${shards[tooLow]!.fuelRequired} fuel but its share is ${shares.fuelLimits[tooLow]}`,
          );
        }
        await prisma.subJob.createMany({
          data: shards.map((s, i) => ({
            id: subJobIdOf(jobId, epoch, s.index),
            jobId,
            index: s.index,
            epoch,
            programId: spec.subProgramId,
            shard: s.shard,
            rowStart: s.rowStart,
            rows: s.rows,
            fuelLimit: shares.fuelLimits[i]!.toString(),
            verifierFee: shares.verifierFees[i]!.toString(),
            status: 'pending',
          })),
          skipDuplicates: true,
        });
        logger.info({ jobId, epoch, subJobs: shards.length }, 'SubJobs created');
      }
      const rows = await prisma.subJob.findMany({ where: { jobId, epoch }, orderBy: { index: 'asc' } });
      return rows.map((r) => {
        const shard = JSON.parse(r.shard) as ShardRef;
        return {
          subJobId: r.id,
          index: r.index,
          epoch: r.epoch,
          programId: r.programId,
          shard: shard.blobId,
          rows: r.rows,
          fuelLimit: r.fuelLimit.toFixed(0),
        };
      });
    },

    async aggregateEpoch(jobId, epoch) {
      const j = await job(jobId);
      const subs = await prisma.subJob.findMany({ where: { jobId, epoch }, orderBy: { index: 'asc' } });
      const missing = subs.find((s) => !s.output);
      if (missing) refuse(`SubJob ${missing.index} of epoch ${epoch} has no verified update to aggregate`);
      const out = await deps.programFor(j.programId).aggregate({
        outputs: subs.map((s) => ({ index: s.index, outputBlobId: s.output!, weight: s.rows })),
        context: { jobId },
      });
      // The requester's keyholder must read the sum.
      await share(out.resultBlobId, j.requester);
      return {
        sum: out.resultBlobId,
        weight: subs.reduce((a, s) => a + s.rows, 0),
        globalModel: await globalModelOf(j, epoch),
      };
    },

    async recordCheckpoint({ jobId, epoch, model, accuracy, loss }) {
      await prisma.$transaction([
        prisma.checkpoint.upsert({
          where: { id: `${jobId}:${epoch}` },
          create: { id: `${jobId}:${epoch}`, jobId, epoch, model, accuracy, loss },
          update: {},
        }),
        prisma.job.update({ where: { id: jobId }, data: { result: model } }),
      ]);
      logger.info({ jobId, epoch, model, accuracy, loss }, 'epoch checkpoint recorded');
    },

    async shareWithRequester({ jobId, blob }) {
      await share(blob, (await job(jobId)).requester);
    },

    async trainingParams(jobId) {
      const params = (await job(jobId)).params as Record<string, string>;
      return { trainGraph: params.trainGraphBlobId!, ...(params.testSet ? { testSet: params.testSet } : {}) };
    },

    async setJobStatus(jobId, status: JobStatus) {
      await prisma.job.update({ where: { id: jobId }, data: { status } });
    },

    async setSubJobStatus(subJobId, status: SubJobStatus, nodeId) {
      await prisma.subJob.update({
        where: { id: subJobId },
        data: { status, ...(nodeId ? { nodeId: nodeId.toLowerCase() } : {}) },
      });
    },

    async chooseNode({ jobId, subJobId, capabilityClass, exclude }): Promise<NodeChoice | null> {
      const excluded = exclude.map((e) => e.toLowerCase());
      const candidates = await prisma.node.findMany({
        where: { capabilityClass, status: 'online', id: { notIn: excluded } },
        orderBy: [{ completed: 'desc' }, { registeredAt: 'asc' }],
      });
      if (candidates.length === 0) return null;
      const online = await deps.nodesOnline(candidates.map((c) => c.id));
      const sub = await prisma.subJob.findUniqueOrThrow({ where: { id: subJobId }, include: { job: true } });
      // A node must be able to pay the worst penalty for this SubJob out of its stake.
      const feeLimit = big(sub.fuelLimit) * big(sub.job.fuelPrice);
      const worstPenalty = (feeLimit * feeParams.timeoutPenaltyRate) / 10_000n;
      const busy = await prisma.subJob.groupBy({
        by: ['nodeId'],
        where: { status: { in: ['assigned', 'running'] }, nodeId: { in: candidates.map((c) => c.id) } },
        _count: true,
      });
      const load = new Map(busy.map((b) => [b.nodeId, b._count]));
      // Spread a Job over the nodes: fewer running SubJobs first, then fewer SubJobs of this Job,
      // then the better track record (the order of `candidates`; Array.sort is stable).
      const ofJob = await prisma.subJob.groupBy({
        by: ['nodeId'],
        where: { jobId, nodeId: { in: candidates.map((c) => c.id) } },
        _count: true,
      });
      const shareOfJob = new Map(ofJob.map((b) => [b.nodeId, b._count]));
      const eligible = [];
      for (const c of candidates) {
        if (!online.has(c.id)) continue;
        if ((await chain.stakeOf(c.id)) < worstPenalty) continue;
        eligible.push(c);
      }
      eligible.sort(
        (a, b) =>
          (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0) ||
          (shareOfJob.get(a.id) ?? 0) - (shareOfJob.get(b.id) ?? 0),
      );
      const pick = eligible[0];
      if (!pick) return null;
      logger.info({ jobId, subJobId, nodeId: pick.id }, 'node chosen');
      return { nodeId: pick.id, trackRecord: pick.completed };
    },

    async nodeTask({ subJobId, attempt, nodeId }): Promise<NodeTask> {
      const sub = await prisma.subJob.findUniqueOrThrow({ where: { id: subJobId }, include: { job: true } });
      await prisma.$transaction([
        prisma.attempt.upsert({
          where: { id: attemptId(subJobId, attempt) },
          create: { id: attemptId(subJobId, attempt), subJobId, nodeId: nodeId.toLowerCase(), attempt },
          update: {},
        }),
        prisma.subJob.update({
          where: { id: subJobId },
          data: { attempts: attempt, nodeId: nodeId.toLowerCase() },
        }),
      ]);
      const params = sub.job.params as Record<string, string>;
      const training = isTraining(sub.job.programId);
      const runParams = runParamsOf(sub.job.programId, params);
      return {
        jobId: sub.jobId,
        subJobId,
        programId: sub.programId,
        shard: JSON.parse(sub.shard) as ShardRef,
        modelBlobId: training ? await globalModelOf(sub.job, sub.epoch) : params.model!,
        ...(runParams ? { params: runParams } : {}),
        fuelLimit: sub.fuelLimit.toFixed(0),
        attempt,
      };
    },

    async closeAttempt({ subJobId, nodeId, attempt, outcome, reason }) {
      const id = attemptId(subJobId, attempt);
      const row = await prisma.attempt.findUnique({ where: { id } });
      if (!row) return; // never opened (cancelled before the node was asked)
      const node = nodeId.toLowerCase();
      const kind = PENALISED[outcome];
      let penalty = 0n;
      let penaltyTx: string | undefined;
      if (kind) {
        const sub = await prisma.subJob.findUniqueOrThrow({
          where: { id: subJobId },
          include: { job: true },
        });
        const feeLimit = big(sub.fuelLimit) * big(sub.job.fuelPrice);
        const stake = await chain.stakeOf(node);
        penalty = penaltyOf(kind, feeLimit, stake, feeParams);
        // Keyed by the attempt: a retried activity never burns twice.
        penaltyTx = await chain.penalize(node, penalty, `emeth:penalty:${id}`);
        logger.warn(
          { jobId: sub.jobId, subJobId, nodeId: node, outcome, penalty: penalty.toString(), reason },
          'node penalised',
        );
      }
      if (row.outcome !== null) return;
      await prisma.$transaction([
        prisma.attempt.update({
          where: { id },
          data: {
            outcome,
            reason,
            endedAt: new Date(),
            ...(kind ? { penalty: penalty.toString(), penaltyTx } : {}),
          },
        }),
        prisma.node.update({
          where: { id: node },
          data:
            outcome === 'verified'
              ? { completed: { increment: 1 } }
              : kind
                ? { failures: { increment: 1 } }
                : {},
        }),
      ]);
    },

    async acceptResult({ result, verdict, attempt }) {
      const node = result.nodeId.toLowerCase();
      const signer = verifyMessage(nodeResultMessage(result, attempt), result.signature).toLowerCase();
      if (signer !== node) refuse(`result of ${result.subJobId} is not signed by its node ${node}`);
      const verifier = verifyMessage(verdictMessage(verdict), verdict.signature).toLowerCase();
      if (verifier !== verdict.verifier.toLowerCase() || !verifiers.has(verifier)) {
        refuse(`verdict on ${verdict.subJobId} is not signed by a known verifier`);
      }
      const id = attemptId(result.subJobId, attempt);
      await prisma.$transaction([
        prisma.result.upsert({
          where: { id },
          create: {
            id,
            subJobId: result.subJobId,
            nodeId: node,
            output: result.output,
            fuelUsed: result.fuelUsed,
            signature: result.signature,
            executionProvider: result.executionProvider,
          },
          update: {},
        }),
        prisma.verification.upsert({
          where: { id },
          create: {
            id,
            subJobId: result.subJobId,
            verifier,
            valid: verdict.valid,
            rowsChecked: verdict.rowsChecked,
            maxDiff: Number.isFinite(verdict.maxDiff) ? verdict.maxDiff : 1e308,
            fuelUsed: verdict.fuelUsed,
            reason: verdict.reason,
            signature: verdict.signature,
          },
          update: {},
        }),
        prisma.subJob.update({
          where: { id: result.subJobId },
          data: { output: result.output, fuelUsed: verdict.fuelUsed, nodeId: node },
        }),
      ]);
    },

    async aggregateJob(jobId) {
      const j = await job(jobId);
      if (j.result) return { result: j.result };
      const subs = await prisma.subJob.findMany({ where: { jobId }, orderBy: { index: 'asc' } });
      const missing = subs.find((s) => !s.output);
      if (missing) refuse(`SubJob ${missing.index} of ${jobId} has no verified output to aggregate`);
      const out = await deps.programFor(j.programId).aggregate({
        outputs: subs.map((s) => ({ index: s.index, outputBlobId: s.output! })),
        context: { jobId },
      });
      await prisma.job.update({ where: { id: jobId }, data: { result: out.resultBlobId } });
      return { result: out.resultBlobId };
    },

    async settleJob(jobId, status) {
      const j = await job(jobId);
      const reserved = big(j.reserved);
      const verified = await prisma.subJob.findMany({
        where: { jobId, status: 'verified' },
        orderBy: { index: 'asc' },
      });
      const tickets: Ticket[] = [];
      for (const s of verified) {
        const verdict = await prisma.verification.findFirstOrThrow({
          where: { subJobId: s.id, valid: true },
          orderBy: { createdAt: 'desc' },
        });
        tickets.push({
          jobId,
          subJobId: s.id,
          node: s.nodeId!,
          requester: j.requester,
          amount: big(s.fuelUsed) * big(j.fuelPrice),
          verifier: verdict.verifier,
          verifierFee: big(s.verifierFee),
        });
      }
      const charged = tickets.reduce((a, t) => a + t.amount + t.verifierFee, 0n);
      const released = reserved - charged;
      if (released < 0n)
        throw new Error(`Job ${jobId} would charge ${charged} holon but reserved only ${reserved}`);
      await prisma.$transaction([
        ...tickets.map((t) =>
          prisma.ticket.upsert({
            where: { subJobId: t.subJobId },
            create: {
              id: hashTicket(t),
              jobId,
              subJobId: t.subJobId,
              node: t.node,
              requester: t.requester,
              amount: t.amount.toString(),
              verifier: t.verifier,
              verifierFee: t.verifierFee.toString(),
            },
            update: {},
          }),
        ),
        prisma.ledgerEntry.upsert({
          where: { id: `${jobId}:charge` },
          create: {
            id: `${jobId}:charge`,
            requester: j.requester,
            jobId,
            kind: 'charge',
            amount: charged.toString(),
          },
          update: {},
        }),
        prisma.ledgerEntry.upsert({
          where: { id: `${jobId}:release` },
          create: {
            id: `${jobId}:release`,
            requester: j.requester,
            jobId,
            kind: 'release',
            amount: released.toString(),
          },
          update: {},
        }),
        prisma.subJob.updateMany({
          where: { jobId, status: { notIn: ['verified', 'failed'] } },
          data: { status: 'cancelled' },
        }),
        prisma.job.update({
          where: { id: jobId },
          data: { charged: charged.toString(), refunded: released.toString() },
        }),
      ]);
      logger.info(
        {
          jobId,
          status,
          charged: charged.toString(),
          refunded: released.toString(),
          tickets: tickets.length,
        },
        'Job settled',
      );
      return { charged: charged.toString(), refunded: released.toString() };
    },

    async signPendingTickets() {
      await markRedeemedTickets();

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

function shardRefOf(s: ShardRef): ShardRef {
  return {
    index: s.index,
    blobId: s.blobId,
    rowStart: s.rowStart,
    rowEnd: s.rowEnd,
    rows: s.rows,
    cols: s.cols,
    bytes: s.bytes,
  };
}

const isTraining = (programId: number) => getProgramSpec(programId).name === 'fedavg-train';

/**
 * What a program's nodes and verifier need from the Job's params, under the names the program
 * reads: fedavg-train (see fedavg-format.ts) and encrypted-stats (parseStatsParams).
 */
function runParamsOf(programId: number, params: Record<string, string>): Record<string, string> | undefined {
  const pick = (names: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(names)
        .filter(([, from]) => params[from] !== undefined)
        .map(([to, from]) => [to, String(params[from])]),
    );
  switch (getProgramSpec(programId).name) {
    case 'fedavg-train':
      return pick({
        trainGraphBlobId: 'trainGraphBlobId',
        publicKeyBlobId: 'publicKeyBlobId',
        localSteps: 'localSteps',
        learningRate: 'learningRate',
        batchSize: 'batchSize',
        modelKind: 'modelKind',
      });
    case 'encrypted-stats':
      return pick({ publicKey: 'publicKeyBlobId', bins: 'bins', min: 'min', max: 'max' });
    default:
      return undefined;
  }
}

/** An epoch's part of a Job-wide amount; the last epoch takes the remainder so the parts sum exactly. */
function epochShare(total: bigint, epoch: number, epochs: number): bigint {
  const each = total / BigInt(epochs);
  return epoch === epochs - 1 ? total - each * BigInt(epochs - 1) : each;
}
