/**
 * Results: a node's signed result, bound to the assignment the workflow made (Job, SubJob, attempt,
 * node, input digest), and the verifier's signed verdict on exactly that output, recorded together.
 * The verdict fixes the fuel paid; the node's own figure is not trusted. Rows are keyed by the
 * assignment, never by ids the node wrote, so a node cannot write over a sibling SubJob.
 */
import type { TypedDataDomain } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { ResultsActivities } from '../../lib/pipeline';
import { blobDigest, replicaCommitment, resultBindingProblem, verdictSigner } from '../../lib/attestations';
import { attemptId } from '../../lib/ids';
import { refuse } from '../shared/job-rows';

export interface ResultsDeps {
  prisma: PrismaClient;
  /** The EIP-712 domain participants sign under (EmethCore's). */
  domain: TypedDataDomain;
  /** Addresses allowed to sign verdicts. */
  verifiers: readonly string[];
  logger: Logger;
}

export function createResultsActivities(deps: ResultsDeps): ResultsActivities {
  const { prisma, domain } = deps;
  const verifiers = new Set(deps.verifiers.map((v) => v.toLowerCase()));
  return {
    async checkResult({ task, nodeId, result }) {
      const problem = resultBindingProblem(domain, task, nodeId, result);
      if (!problem) return { bound: true };
      deps.logger.warn(
        { jobId: task.jobId, subJobId: task.subJobId, nodeId, attempt: task.attempt, problem },
        'result does not match its assignment: no answer',
      );
      return { bound: false, reason: problem };
    },

    async checkReveal({ commitment, result, salt }) {
      if (!/^0x[0-9a-f]{64}$/i.test(salt))
        return { opened: false, reason: 'the salt is not 32 bytes of hex' };
      const opened = replicaCommitment(result, salt);
      if (opened === commitment.toLowerCase()) return { opened: true };
      deps.logger.warn(
        { jobId: result.jobId, subJobId: result.subJobId, nodeId: result.nodeId, attempt: result.attempt },
        'a replica revealed a result other than the one it committed to',
      );
      return {
        opened: false,
        reason: 'the revealed result does not open the commitment made before the reveal',
      };
    },

    async acceptResult({ task, nodeId, result, verdict, replica }) {
      const node = nodeId.toLowerCase();
      const problem = resultBindingProblem(domain, task, node, result);
      if (problem) refuse(`result of ${task.subJobId} attempt ${task.attempt}: ${problem}`);
      const verifier = verdictSigner(
        domain,
        {
          subJobId: task.subJobId,
          attempt: task.attempt,
          node,
          outputDigest: blobDigest(result.output),
          verifier: verdict.verifier.toLowerCase(),
          valid: verdict.valid,
          fuelUsed: verdict.fuelUsed,
          rowsChecked: verdict.rowsChecked,
        },
        verdict.signature,
      );
      if (verifier !== verdict.verifier.toLowerCase() || !verifiers.has(verifier)) {
        refuse(
          `verdict on ${task.subJobId} attempt ${task.attempt} is not signed by a known verifier for this output`,
        );
      }
      const id = attemptId(task.subJobId, task.attempt);
      await prisma.$transaction([
        prisma.result.upsert({
          where: { id },
          create: {
            id,
            subJobId: task.subJobId,
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
            subJobId: task.subJobId,
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
        // The replica's result is kept as evidence and pays its node; the SubJob's output is its twin's.
        ...(replica
          ? []
          : [
              prisma.subJob.update({
                where: { id: task.subJobId },
                data: { output: result.output, fuelUsed: verdict.fuelUsed, nodeId: node },
              }),
            ]),
      ]);
      deps.logger.info(
        { jobId: task.jobId, subJobId: task.subJobId, nodeId: node, attempt: task.attempt },
        'result accepted',
      );
    },
  };
}
