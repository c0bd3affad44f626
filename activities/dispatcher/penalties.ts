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
  // A prover without stake on EmethCore has nowhere to be paid: then the whole fine is burned.
  const paid =
    p.kind === 'reject' && p.prover && p.prover.toLowerCase() !== p.node.toLowerCase()
      ? (await chain.stakeOf(p.prover)) > 0n
      : false;
  const penaltyTx = paid
    ? await chain.fine(p.node, penalty, p.reason, p.prover!.toLowerCase())
    : await chain.penalize(p.node, penalty, p.reason);
  return { penalty, penaltyTx };
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
