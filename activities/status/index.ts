/** The Job and SubJob status rows the gateway shows; the workflows own the truth and mirror it here. */
import type { PrismaClient } from '../../prisma/client';
import type { StatusActivities } from '../../lib/pipeline';

export function createStatusActivities(deps: { prisma: PrismaClient }): StatusActivities {
  const { prisma } = deps;
  return {
    async setJobStatus(jobId, status) {
      await prisma.job.update({ where: { id: jobId }, data: { status } });
    },
    async setSubJobStatus(subJobId, status, nodeId) {
      await prisma.subJob.update({
        where: { id: subJobId },
        data: { status, ...(nodeId ? { nodeId: nodeId.toLowerCase() } : {}) },
      });
    },
  };
}
