/**
 * Verification policy (SPEC §2): which attempts are checked and how, from the program's declared
 * policy and the node's record with that program. The draw happens after the node has answered,
 * from this process's CSPRNG, and its outcome is recorded in the workflow history for audit: a node
 * cannot predict which rows, or whether its update, will be checked.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { CheckPlan, VerificationActivities } from '../../lib/pipeline';
import { getProgramSpec, spotCheckRateFor } from '../../lib/programs';

export interface VerificationDeps {
  prisma: PrismaClient;
  logger: Logger;
}

const DRAW_RESOLUTION = 1_000_000;

export function createVerificationActivities(deps: VerificationDeps): VerificationActivities {
  const { prisma, logger } = deps;
  return {
    async planCheck({ subJobId, attempt, nodeId }): Promise<CheckPlan> {
      const sub = await prisma.subJob.findUniqueOrThrow({ where: { id: subJobId } });
      const spec = getProgramSpec(sub.programId);
      // The node's record with this program: verified attempts of SubJobs of the same program.
      const record = await prisma.attempt.count({
        where: { nodeId: nodeId.toLowerCase(), outcome: 'verified', subJob: { programId: sub.programId } },
      });
      const sampleRate = spotCheckRateFor(spec, record);
      const plan: CheckPlan = {
        sampleRate,
        seed: `${subJobId}:${attempt}:${randomBytes(16).toString('hex')}`,
        // An encrypted output can be compared value by value only once the keyholder opens it.
        openWithKeyholder: spec.needsKeyholder && randomInt(DRAW_RESOLUTION) < sampleRate * DRAW_RESOLUTION,
      };
      logger.info(
        { jobId: sub.jobId, subJobId, nodeId, attempt, record, sampleRate, opened: plan.openWithKeyholder },
        'check planned',
      );
      return plan;
    },
  };
}
