import type { PrismaClient } from '../../prisma/client';
import { getProgramSpec } from '../../lib/programs';
import { jobParams, refuse } from '../shared/job-rows';

/**
 * The model an epoch runs from: the Job's model at epoch 0, then (programs whose keyholder updates
 * the model) the previous epoch's checkpoint.
 */
export async function modelOfEpoch(
  prisma: PrismaClient,
  j: { id: string; programId: number; params: unknown },
  epoch: number,
): Promise<string> {
  const spec = getProgramSpec(j.programId);
  if (epoch === 0 || !spec.needsKeyholder) return jobParams(j)[spec.modelParam]!;
  const ck = await prisma.checkpoint.findUnique({ where: { id: `${j.id}:${epoch - 1}` } });
  if (!ck) refuse(`epoch ${epoch} of ${j.id} cannot start: epoch ${epoch - 1} has no checkpoint`);
  return ck.model;
}
