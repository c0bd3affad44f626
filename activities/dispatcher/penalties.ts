import type { AttemptOutcome } from '../../lib/types';
import { penaltyOf, type FeeParams, type PenaltyKind } from '../../lib/fees';
import type { L2Chain } from '../chain';

const PENALISED: Partial<Record<AttemptOutcome, PenaltyKind>> = {
  declined: 'decline',
  timeout: 'timeout',
  rejected: 'reject',
};

/** The penalty an attempt's outcome carries, if any (SPEC §4: decline, timeout, reject). */
export const penaltyKindOf = (outcome: AttemptOutcome): PenaltyKind | undefined => PENALISED[outcome];

/** Burns the SPEC §4 penalty from the node's stake on EmethCore, once per `reason`. */
export async function penaltyFor(
  chain: Pick<L2Chain, 'stakeOf' | 'penalize'>,
  feeParams: FeeParams,
  p: { kind: PenaltyKind; node: string; feeLimit: bigint; reason: string },
): Promise<{ penalty: bigint; penaltyTx?: string }> {
  // The attempt's own lock counts: it was held back for exactly this penalty.
  const stake = await chain.stakeOf(p.node, p.reason);
  const penalty = penaltyOf(p.kind, p.feeLimit, stake, feeParams);
  const penaltyTx = await chain.penalize(p.node, penalty, p.reason);
  return { penalty, penaltyTx };
}

/** The key EmethCore files an attempt's stake lock and its penalty under (one, so the lock pays it). */
export const attemptStakeKey = (attemptId: string): string => `emeth:penalty:${attemptId}`;

/** SPEC §4: the worst an attempt can cost its node, what opening it locks. */
export const worstPenaltyOf = (feeLimit: bigint, feeParams: FeeParams): bigint =>
  (feeLimit *
    [feeParams.declinePenaltyRate, feeParams.timeoutPenaltyRate, feeParams.rejectPenaltyRate].reduce(
      (a, b) => (a > b ? a : b),
    )) /
  10_000n;
