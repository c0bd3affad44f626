/**
 * Verdict audits (issue 12 item 5): a verifier is a party like any other and may lie. Every
 * rejecting verdict (it fines the node and rewards its verifier) and a sample of accepting ones
 * are re-checked by a second verifier, drawn after the verdict came; when the two disagree a
 * third verifier referees with every row, and the verifier it overrules pays `verdictFineOf` from
 * its stake on EmethCore, half of it to the verifier it was overruled in favour of.
 *
 * A verdict is evidence only with its verifier's signature over this very attempt's output: an
 * unsigned or misbound verdict fines nobody (the L2 never slashes on its own say-so).
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { TypedDataDomain } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { AuditedVerdicts, Verdict, VerdictAuditPlan } from '../../lib/pipeline';
import { blobDigest, verdictSigner } from '../../lib/attestations';
import { attemptId } from '../../lib/ids';
import { getProgramSpec } from '../../lib/programs';
import {
  auditsVerdict,
  verdictFineOf,
  withOverrides,
  type VerificationPolicy,
} from '../../lib/verification-policy';
import { big } from '../../prisma/ledger';
import { refuse } from '../shared/job-rows';
import type { L2Chain } from '../chain';
import { fineOrBurn } from '../dispatcher/penalties';

export interface VerdictAuditDeps {
  prisma: PrismaClient;
  chain: Pick<L2Chain, 'stakeOf' | 'fine' | 'penalize'>;
  domain: TypedDataDomain;
  /** Addresses allowed to sign verdicts. */
  verifiers: readonly string[];
  participantKey(role: 'verifier' | 'keyholder', address: string): string | undefined;
  /** Which of these verifiers have a worker polling their own queue right now. */
  verifiersOnline(addresses: string[]): Promise<Set<string>>;
  verification?: Partial<VerificationPolicy>;
  logger: Logger;
}

const DRAW_RESOLUTION = 1_000_000;

/** The key EmethCore files a wrong verdict's fine under: one per attempt. */
export const verdictFineKey = (subJobId: string, attempt: number): string =>
  `emeth:verdict:${attemptId(subJobId, attempt)}`;

export function createVerdictAuditActivities(deps: VerdictAuditDeps) {
  const { prisma, chain, logger } = deps;

  async function subJobOf(subJobId: string) {
    const sub = await prisma.subJob.findUniqueOrThrow({ where: { id: subJobId }, include: { job: true } });
    const policy = withOverrides(getProgramSpec(sub.programId).verification, deps.verification);
    return { sub, policy, feeLimit: big(sub.fuelLimit) * big(sub.job.fuelPrice) };
  }

  /** The online verifiers outside `exclude` whose stake covers a wrong verdict's fine. */
  async function candidates(exclude: string[], fine: bigint): Promise<string[]> {
    const out = new Set(exclude.map((e) => e.toLowerCase()));
    // Connected (its key is known, so it can open the sealed task) and polling its own queue.
    const connected = deps.verifiers
      .map((x) => x.toLowerCase())
      .filter((v) => !out.has(v) && deps.participantKey('verifier', v));
    const online = await deps.verifiersOnline(connected);
    const staked: string[] = [];
    for (const v of connected) if (online.has(v) && (await chain.stakeOf(v)) >= fine) staked.push(v);
    return staked;
  }

  /** The verifier that signed `v`, if the signature is its own over this verdict. */
  function signerOf(v: Verdict, outputDigest: string): string | undefined {
    const signer = verdictSigner(
      deps.domain,
      {
        subJobId: v.subJobId,
        attempt: v.attempt,
        node: v.node.toLowerCase(),
        outputDigest,
        verifier: v.verifier.toLowerCase(),
        valid: v.valid,
        fuelUsed: v.fuelUsed,
        rowsChecked: v.rowsChecked,
      },
      v.signature,
    );
    const allowed = deps.verifiers.map((x) => x.toLowerCase());
    return signer === v.verifier.toLowerCase() && allowed.includes(signer) ? signer : undefined;
  }

  return {
    async planVerdictAudit({ verdict, sampleRate }: { verdict: Verdict; sampleRate: number }) {
      const { sub, policy, feeLimit } = await subJobOf(verdict.subJobId);
      // Drawn after the verdict came: a verifier cannot know which of its verdicts are re-checked.
      if (!auditsVerdict(policy, verdict.valid, randomInt(DRAW_RESOLUTION) / DRAW_RESOLUTION)) return null;
      const ctx = { jobId: sub.jobId, subJobId: sub.id, nodeId: verdict.node, verifier: verdict.verifier };
      // An audit is worth starting only if a referee could settle a disagreement: two others.
      const others = await candidates([verdict.verifier], verdictFineOf(policy, feeLimit));
      if (others.length < 2) {
        logger.warn(
          { ...ctx, others: others.length },
          'verdict audit skipped: it needs two other online verifiers with stake',
        );
        return null;
      }
      const plan: VerdictAuditPlan = {
        sampleRate: verdict.valid ? sampleRate : 1,
        seed: `${verdict.subJobId}:${verdict.attempt}:audit:${randomBytes(16).toString('hex')}`,
      };
      logger.info({ ...ctx, valid: verdict.valid, sampleRate: plan.sampleRate }, 'verdict audit planned');
      return plan;
    },

    async chooseVerifier({
      subJobId,
      attempt,
      exclude,
    }: {
      subJobId: string;
      attempt: number;
      exclude: string[];
    }) {
      const { policy, feeLimit } = await subJobOf(subJobId);
      const pool = await candidates(exclude, verdictFineOf(policy, feeLimit));
      if (pool.length === 0) return null;
      const verifier = pool[randomInt(pool.length)]!;
      return { verifier, seed: `${subJobId}:${attempt}:${verifier}:${randomBytes(16).toString('hex')}` };
    },

    async settleVerdictAudit({
      output,
      verdicts,
    }: {
      output: string;
      verdicts: AuditedVerdicts;
    }): Promise<Verdict> {
      const outputDigest = blobDigest(output);
      const { first, audit, referee } = verdicts;
      const all = [first, audit, ...(referee ? [referee] : [])];
      for (const v of all) {
        if (v.subJobId !== first.subJobId || v.attempt !== first.attempt || v.node !== first.node)
          refuse(`verdicts of an audit must be on one attempt: ${v.subJobId}:${v.attempt} of ${v.node}`);
        if (!signerOf(v, outputDigest))
          refuse(
            `a verdict on ${v.subJobId} attempt ${v.attempt} is not signed by its verifier ${v.verifier}`,
          );
      }
      if (new Set(all.map((v) => v.verifier.toLowerCase())).size !== all.length)
        refuse('an audit needs verdicts of distinct verifiers');
      if (first.valid !== audit.valid && !referee) refuse('a disagreement is settled only by a referee');

      // Agreement: the first verdict stands. Disagreement: the referee's side does.
      const upheld = !referee ? first : referee.valid === first.valid ? first : audit;
      const wrong = !referee ? undefined : upheld === first ? audit : first;
      const { sub, policy, feeLimit } = await subJobOf(first.subJobId);
      const id = attemptId(first.subJobId, first.attempt);
      const ctx = { jobId: sub.jobId, subJobId: sub.id, nodeId: first.node };
      let fine: { amount: bigint; tx?: string } | undefined;
      if (wrong) {
        const key = verdictFineKey(first.subJobId, first.attempt);
        const stake = await chain.stakeOf(wrong.verifier);
        const due = verdictFineOf(policy, feeLimit);
        const amount = due < stake ? due : stake;
        const tx = await fineOrBurn(chain, wrong.verifier.toLowerCase(), amount, key, upheld.verifier);
        fine = { amount, ...(tx ? { tx } : {}) };
        logger.warn(
          { ...ctx, verifier: wrong.verifier, upheld: upheld.verifier, fine: amount.toString(), fineTx: tx },
          'wrong verdict: verifier fined',
        );
      } else {
        logger.info({ ...ctx, verifier: first.verifier, auditor: audit.verifier }, 'verdict audit agreed');
      }
      await prisma.verdictAudit.upsert({
        where: { id },
        create: {
          id,
          subJobId: first.subJobId,
          attempt: first.attempt,
          node: first.node.toLowerCase(),
          verifier: first.verifier.toLowerCase(),
          valid: first.valid,
          auditor: audit.verifier.toLowerCase(),
          auditValid: audit.valid,
          ...(referee ? { referee: referee.verifier.toLowerCase(), refereeValid: referee.valid } : {}),
          upheld: upheld.valid,
          ...(wrong ? { wrongVerifier: wrong.verifier.toLowerCase() } : {}),
          ...(fine ? { fine: fine.amount.toString(), fineTx: fine.tx } : {}),
        },
        update: {},
      });
      return upheld;
    },
  };
}
