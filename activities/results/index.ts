/**
 * Results: a node's signed result and the verifier's signed verdict on it, recorded together once
 * both signatures check out. The verdict fixes the fuel paid; the node's own figure is not trusted.
 */
import { verifyMessage } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import { nodeResultMessage, verdictMessage, type ResultsActivities } from '../../lib/pipeline';
import { attemptId } from '../../lib/ids';
import { refuse } from '../shared/job-rows';

export interface ResultsDeps {
  prisma: PrismaClient;
  /** Addresses allowed to sign verdicts. */
  verifiers: readonly string[];
  logger: Logger;
}

export function createResultsActivities(deps: ResultsDeps): ResultsActivities {
  const { prisma } = deps;
  const verifiers = new Set(deps.verifiers.map((v) => v.toLowerCase()));
  return {
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
      deps.logger.info({ subJobId: result.subJobId, nodeId: node, attempt }, 'result accepted');
    },
  };
}
