/**
 * Reconciliation (issue: every Job ends): a Job's row must reach a terminal status and release its
 * reservation even when its workflow closed some other way — terminated by an operator, failed past
 * its retries, timed out, or never started. Each interval this finds such rows, settles them as
 * failed (verified work is still paid), and logs what it fixed.
 */
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { LedgerActivities, ReconciledJob, ReconcilerActivities } from '../../lib/pipeline';
import { TERMINAL_JOB_STATUSES } from '../../lib/types';

export interface ReconcilerDeps {
  prisma: PrismaClient;
  /** How the workflow of `workflowId` stands: 'running', its close status, or 'missing'. */
  workflowState(workflowId: string): Promise<string>;
  settleJob: LedgerActivities['settleJob'];
  /** Rows younger than this are left alone (their workflow may still be starting). */
  graceMs?: number;
  onFixed?: (fixed: ReconciledJob) => void;
  logger: Logger;
}

export function createReconcilerActivities(deps: ReconcilerDeps): ReconcilerActivities {
  const { prisma, logger } = deps;
  return {
    async reconcileJobs() {
      const rows = await prisma.job.findMany({
        where: {
          status: { notIn: [...TERMINAL_JOB_STATUSES] },
          createdAt: { lt: new Date(Date.now() - (deps.graceMs ?? 60_000)) },
        },
        select: { id: true, workflowId: true, status: true },
        take: 500,
      });
      const fixed: ReconciledJob[] = [];
      for (const row of rows) {
        const workflow = await deps.workflowState(row.workflowId);
        if (workflow === 'running') continue;
        await deps.settleJob(
          row.id,
          'failed',
          `reconciled: the Job's workflow ended (${workflow}) before the Job did`,
        );
        const f = { jobId: row.id, was: row.status, workflow };
        fixed.push(f);
        deps.onFixed?.(f);
        logger.warn(f, 'Job reconciled: settled as failed, the rest of its reservation released');
      }
      return { checked: rows.length, fixed };
    },
  };
}
