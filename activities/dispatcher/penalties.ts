import type { AttemptOutcome } from '../../lib/types';
import { penaltyOf, type FeeParams } from '../../lib/fees';
import type { L2Chain } from '../pipeline/l2-chain';

export type PenaltyKind = 'decline' | 'timeout' | 'reject';

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
  const stake = await chain.stakeOf(p.node);
  const penalty = penaltyOf(p.kind, p.feeLimit, stake, feeParams);
  const penaltyTx = await chain.penalize(p.node, penalty, p.reason);
  return { penalty, penaltyTx };
}
