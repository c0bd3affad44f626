import type { AttemptOutcome } from '../../lib/types';
import { penaltyOf, type FeeParams, type PenaltyKind } from '../../lib/fees';
import { fineOf, type VerificationPolicy } from '../../lib/verification-policy';
import type { L2Chain } from '../chain';

const PENALISED: Partial<Record<AttemptOutcome, PenaltyKind>> = {
  declined: 'decline',
  timeout: 'timeout',
  rejected: 'reject',
};

/** The penalty an attempt's outcome carries, if any (SPEC §4: decline, timeout, reject). */
export const penaltyKindOf = (outcome: AttemptOutcome): PenaltyKind | undefined => PENALISED[outcome];

/**
 * What an attempt's outcome costs its node: the SPEC §4 penalty for a decline or a timeout, and
 * for a proven mismatch the program's fine (lib/verification-policy.ts), sized so that cheating
 * has negative expected profit at the policy's check rates. Never more than `stake`.
 */
export function penaltyAmount(
  kind: PenaltyKind,
  feeLimit: bigint,
  stake: bigint,
  feeParams: FeeParams,
  policy: VerificationPolicy,
): bigint {
  if (kind !== 'reject') return penaltyOf(kind, feeLimit, stake, feeParams);
  const fine = fineOf(policy, feeLimit);
  return fine < stake ? fine : stake;
}

/** Burns the attempt's penalty from the node's stake on EmethCore, once per `reason`. */
export async function penaltyFor(
  chain: Pick<L2Chain, 'stakeOf' | 'penalize' | 'fine'>,
  feeParams: FeeParams,
  p: {
    kind: PenaltyKind;
    node: string;
    feeLimit: bigint;
    reason: string;
    policy: VerificationPolicy;
    /** A rejection's prover (its verifier, or the honest replica): paid EmethCore's proverShare of the fine. */
    prover?: string;
  },
): Promise<{ penalty: bigint; penaltyTx?: string }> {
  // The attempt's own lock counts: it was held back for exactly this penalty.
  const stake = await chain.stakeOf(p.node, p.reason);
  const penalty = penaltyAmount(p.kind, p.feeLimit, stake, feeParams, p.policy);
  const penaltyTx =
    p.kind === 'reject'
      ? await fineOrBurn(chain, p.node, penalty, p.reason, p.prover)
      : await chain.penalize(p.node, penalty, p.reason);
  return { penalty, penaltyTx };
}

/**
 * Takes a proven lie's fine from `liar`'s stake once per `reason`: EmethCore's `fine`, paying its
 * proverShare to `prover`, when the prover is someone else with stake to be paid into; otherwise
 * (no prover, or one without stake on EmethCore) `penalize`, burning it all.
 */
export async function fineOrBurn(
  chain: Pick<L2Chain, 'stakeOf' | 'penalize' | 'fine'>,
  liar: string,
  amount: bigint,
  reason: string,
  prover?: string,
): Promise<string | undefined> {
  const payee = prover?.toLowerCase();
  const paid = payee !== undefined && payee !== liar.toLowerCase() && (await chain.stakeOf(payee)) > 0n;
  return paid ? chain.fine(liar, amount, reason, payee) : chain.penalize(liar, amount, reason);
}

/** The key EmethCore files an attempt's stake lock and its penalty under (one, so the lock pays it). */
export const attemptStakeKey = (attemptId: string): string => `emeth:penalty:${attemptId}`;

/** The worst an attempt can cost its node (the larger of the SPEC §4 penalties and the fine): what opening it locks. */
export function worstPenaltyOf(feeLimit: bigint, feeParams: FeeParams, policy: VerificationPolicy): bigint {
  const rate =
    feeParams.declinePenaltyRate > feeParams.timeoutPenaltyRate
      ? feeParams.declinePenaltyRate
      : feeParams.timeoutPenaltyRate;
  const penalty = (feeLimit * rate) / 10_000n;
  const fine = fineOf(policy, feeLimit);
  return penalty > fine ? penalty : fine;
}
