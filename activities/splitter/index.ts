/**
 * The Splitter (paper §2): plans a Job, has its program cut the dataset into shards (epoch 0), and
 * registers one SubJob per shard and epoch with its share of the fuel limit and verifier fee.
 */
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { DispatchSettings, JobPlan, SplitterActivities, SubJobPlan } from '../../lib/pipeline';
import { splitShares } from '../../lib/fees';
import { getProgramSpec, type ProgramModule, type ShardRef } from '../../lib/programs';
import { subJobIdOf } from '../../lib/ids';
import { EmethError } from '../../lib/errors';
import { big } from '../../prisma/ledger';
import { jobParams, loadJob, refuse, replicasOf, runParamsOf } from '../shared/job-rows';
import { epochShare } from './epochs';

export interface SplitterDeps {
  prisma: PrismaClient;
  programFor(programId: number): ProgramModule;
  dispatch: DispatchSettings;
  /** Attempts per SubJob before it fails (SPEC: maxRetries, default 3). */
  maxAttempts?: number;
  /** Children a Job runs at once. */
  window?: number;
  logger: Logger;
}

interface ShardRow {
  index: number;
  shard: string;
  rowStart: number;
  rows: number;
  fuelRequired?: string;
}

export function createSplitterActivities(deps: SplitterDeps): SplitterActivities {
  const { prisma, logger } = deps;

  /** Epoch 0 splits the dataset; later epochs train on the same shards from the newest model. */
  async function shardsOf(j: Awaited<ReturnType<typeof loadJob>>, epoch: number): Promise<ShardRow[]> {
    if (epoch > 0) {
      return prisma.subJob.findMany({ where: { jobId: j.id, epoch: 0 }, orderBy: { index: 'asc' } });
    }
    const spec = getProgramSpec(j.programId);
    const params = jobParams(j);
    const split = await deps
      .programFor(j.programId)
      .split({
        programId: j.programId,
        datasetBlobId: j.dataset,
        modelBlobId: params[spec.modelParam]!,
        numParallel: j.splitAllowed ? j.numParallel : 1,
        fuelLimit: epochShare(big(j.fuelLimit), 0, j.numEpoch).toString(),
        params: runParamsOf(spec.runParams, params),
      })
      .catch((err: unknown) => {
        // The program's own refusals (unreadable dataset, missing blob, shapes that do not fit) are
        // deterministic: retrying cannot help, so the Job fails now and settles.
        if (err instanceof EmethError) refuse(`the dataset cannot be split: ${err.message}`);
        throw err;
      });
    return split.shards.map((s) => ({ ...s, shard: JSON.stringify(shardRefOf(s)) }));
  }

  return {
    async planJob(jobId): Promise<Omit<JobPlan, 'subJobs'>> {
      const j = await loadJob(prisma, jobId);
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
        ...(j.layer === 'l1' ? { layer: 'l1' as const } : {}),
        ...(replicasOf(j) > 1 ? { replicas: replicasOf(j) } : {}),
        ...(getProgramSpec(j.programId).keyholderOpensOutputs
          ? { keyholderQueue: `${deps.dispatch.keyholderQueuePrefix}${j.requester.toLowerCase()}` }
          : {}),
        ...(getProgramSpec(j.programId).needsKeyholder ? { aggregateAtKeyholder: true } : {}),
      };
    },

    async splitJob(jobId, epoch = 0): Promise<SubJobPlan[]> {
      const j = await loadJob(prisma, jobId);
      const existing = await prisma.subJob.count({ where: { jobId, epoch } });
      if (existing === 0) {
        const shards = await shardsOf(j, epoch);
        // The same shares EmethCore computes for L1 SubJobs (in proportion to shard size); a
        // training Job's limits are divided over its epochs first.
        // A replicated Job pays every run: each of a SubJob's runs gets its share of fuelLimit / replicas.
        const shares = splitShares(
          epochShare(big(j.fuelLimit) / BigInt(replicasOf(j)), epoch, j.numEpoch),
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
            programId: getProgramSpec(j.programId).subProgramId,
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
      return rows.map((r) => ({
        subJobId: r.id,
        index: r.index,
        epoch: r.epoch,
        programId: r.programId,
        shard: (JSON.parse(r.shard) as ShardRef).blobId,
        rows: r.rows,
        fuelLimit: r.fuelLimit.toFixed(0),
      }));
    },
  };
}

/** The ShardRef fields of a split shard (the split's own extras are not stored). */
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
