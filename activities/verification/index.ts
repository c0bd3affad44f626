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
import { getProgramSpec } from '../../lib/programs';
import { decideCheck, withOverrides, type VerificationPolicy } from '../../lib/verification-policy';
import { reputationOf } from './reputation';
import { worstPenaltyOf } from '../dispatcher/penalties';
import { DEFAULT_FEE_PARAMS, type FeeParams } from '../../lib/fees';
import { big } from '../../prisma/ledger';
import { createVerdictAuditActivities, type VerdictAuditDeps } from './verdict-audits';

export interface VerificationDeps extends VerdictAuditDeps {
  prisma: PrismaClient;
  /** Which of these nodes have a worker polling their queue right now (a canary's node must). */
  nodesOnline(nodeIds: string[]): Promise<Set<string>>;
  /** The deployment's fee rules: a canary's node must cover the same worst penalty the dispatcher locks. */
  feeParams?: FeeParams;
  /** Addresses allowed to sign verdicts. */
  verifiers: readonly string[];
  /** The X25519 key a participant vouched for in its node-edge token, if it has connected. */
  participantKey(role: 'verifier' | 'keyholder', address: string): string | undefined;
  /** The deployment's overrides of the programs' verification policies (check rates). */
  verification?: Partial<VerificationPolicy>;
  logger: Logger;
}

const DRAW_RESOLUTION = 1_000_000;

export function createVerificationActivities(deps: VerificationDeps): VerificationActivities {
  const { prisma, logger } = deps;
  return {
    ...createVerdictAuditActivities(deps),
    async planCheck({ subJobId, attempt, nodeId }): Promise<CheckPlan> {
      const sub = await prisma.subJob.findUniqueOrThrow({ where: { id: subJobId } });
      const spec = getProgramSpec(sub.programId);
      const node = nodeId.toLowerCase();
      const reputation = await reputationOf(prisma, node, sub.programId);
      // Drawn here, after the node answered, from this process's CSPRNG: the node cannot know
      // whether this SubJob is audited.
      const decision = decideCheck(
        withOverrides(spec.verification, deps.verification),
        reputation,
        randomInt(DRAW_RESOLUTION) / DRAW_RESOLUTION,
      );
      const plan: CheckPlan = {
        sampleRate: decision.sampleRate,
        why: decision.why,
        seed: `${subJobId}:${attempt}:${randomBytes(16).toString('hex')}`,
        // An encrypted output can be compared value by value only once the keyholder opens it: audits do.
        openWithKeyholder: spec.keyholderOpensOutputs && decision.why !== 'spot',
      };
      logger.info(
        {
          jobId: sub.jobId,
          subJobId,
          nodeId,
          attempt,
          reputation,
          why: decision.why,
          sampleRate: plan.sampleRate,
          opened: plan.openWithKeyholder,
        },
        'check planned',
      );
      return plan;
    },

    async planCanary({ subJobId, nodeId, rowsChecked }) {
      const sub = await prisma.subJob.findUniqueOrThrow({ where: { id: subJobId }, include: { job: true } });
      const policy = withOverrides(getProgramSpec(sub.programId).verification, deps.verification);
      // Known only when every row was re-executed and the result recorded as the SubJob's output.
      if (!(policy.canaryRate > 0) || rowsChecked < sub.rows || sub.rows === 0 || !sub.output) return null;
      if (randomInt(DRAW_RESOLUTION) / DRAW_RESOLUTION >= policy.canaryRate) return null;
      const tried = await prisma.attempt.findMany({
        where: { subJobId },
        select: { nodeId: true, attempt: true },
      });
      const candidates = await prisma.node.findMany({
        where: {
          capabilityClass: sub.job.capabilityClass,
          status: 'online',
          encryptionKey: { not: null },
          // Not its own node, nor one that already ran it (it would know the answer).
          id: { notIn: [nodeId.toLowerCase(), ...tried.map((t) => t.nodeId)] },
        },
      });
      const online = await deps.nodesOnline(candidates.map((c) => c.id));
      const worst = worstPenaltyOf(
        big(sub.fuelLimit) * big(sub.job.fuelPrice),
        deps.feeParams ?? DEFAULT_FEE_PARAMS,
        policy,
      );
      const eligible: string[] = [];
      for (const c of candidates)
        if (online.has(c.id) && (await deps.chain.stakeOf(c.id)) >= worst) eligible.push(c.id);
      if (eligible.length === 0) return null;
      const canaryNode = eligible[randomInt(eligible.length)]!;
      const attempt = Math.max(0, ...tried.map((t) => t.attempt)) + 1;
      logger.info(
        { jobId: sub.jobId, subJobId, nodeId: canaryNode, attempt, checkedBy: nodeId },
        'canary planned',
      );
      return { nodeId: canaryNode, attempt, knownOutput: sub.output };
    },

    async verifierKeys() {
      const keys = deps.verifiers
        .map((v) => deps.participantKey('verifier', v))
        .filter((k) => k !== undefined);
      // Retried by the workflow's activity policy: a verifier that connects in the meantime is found.
      if (keys.length === 0) {
        throw new Error(`no verifier of ${deps.verifiers.join(', ')} has connected to the node edge yet`);
      }
      return keys;
    },

    async keyholderKey(requester) {
      const key = deps.participantKey('keyholder', requester);
      if (!key)
        throw new Error(`the keyholder of requester ${requester} has not connected to the node edge yet`);
      return key;
    },
  };
}
