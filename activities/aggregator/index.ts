/**
 * The Aggregator (paper §2): merges a Job's verified outputs with its program's logic — in row
 * order for inference, as an encrypted weighted sum for training (no secret key here) — and records
 * each epoch's checkpoint.
 */
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { AggregatorActivities } from '../../lib/pipeline';
import type { ProgramModule } from '../../lib/programs';
import type { BlobStore } from '../storage';
import { jobParams, loadJob, refuse, shareBlob } from '../shared/job-rows';
import { modelOfEpoch } from './checkpoints';

export interface AggregatorDeps {
  prisma: PrismaClient;
  store: BlobStore;
  programFor(programId: number): ProgramModule;
  logger: Logger;
}

export function createAggregatorActivities(deps: AggregatorDeps): AggregatorActivities {
  const { prisma, logger } = deps;

  /** The epoch's SubJobs in order, each with its verified output. */
  async function verifiedOutputs(jobId: string, epoch?: number) {
    const subs = await prisma.subJob.findMany({
      where: { jobId, ...(epoch === undefined ? {} : { epoch }) },
      orderBy: { index: 'asc' },
    });
    const missing = subs.find((s) => !s.output);
    if (missing) {
      refuse(
        `SubJob ${missing.index}${epoch === undefined ? '' : ` of epoch ${epoch}`} of ${jobId} has no verified output to aggregate`,
      );
    }
    return subs;
  }

  return {
    async aggregateJob(jobId) {
      const j = await loadJob(prisma, jobId);
      if (j.result) return { result: j.result };
      const subs = await verifiedOutputs(jobId);
      const out = await deps.programFor(j.programId).aggregate({
        outputs: subs.map((s) => ({ index: s.index, outputBlobId: s.output! })),
        context: { jobId },
      });
      await prisma.job.update({ where: { id: jobId }, data: { result: out.resultBlobId } });
      return { result: out.resultBlobId };
    },

    async aggregateEpoch(jobId, epoch) {
      const j = await loadJob(prisma, jobId);
      const subs = await verifiedOutputs(jobId, epoch);
      const out = await deps.programFor(j.programId).aggregate({
        // Weights come from the split (rows per shard), never from what a node reported.
        outputs: subs.map((s) => ({ index: s.index, outputBlobId: s.output!, weight: s.rows })),
        context: { jobId },
      });
      // The requester's keyholder must read the sum.
      await shareBlob(deps, out.resultBlobId, j.requester);
      return {
        sum: out.resultBlobId,
        weight: subs.reduce((a, s) => a + s.rows, 0),
        globalModel: await modelOfEpoch(prisma, j, epoch),
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
      await shareBlob(deps, blob, (await loadJob(prisma, jobId)).requester);
    },

    async trainingParams(jobId) {
      const params = jobParams(await loadJob(prisma, jobId));
      return { trainGraph: params.trainGraph!, ...(params.testSet ? { testSet: params.testSet } : {}) };
    },
  };
}
