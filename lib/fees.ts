/**
 * EMETH's fee arithmetic off-chain (SPEC.md §4), in bigint holon. It mirrors EmethCore exactly —
 * same operations in the same order, integer division rounding down — and is tested against the
 * contract's `quote`/`splitShares` on shared vectors. Rates are basis points (10_000 = 100%).
 */

export const HOLON = 1n;
/** 1 Gholon = 10^9 holon. */
export const GHOLON = 10n ** 9n;
/** 1 EMETH = 10^18 holon. */
export const EMETH = 10n ** 18n;
export const BPS = 10_000n;

export interface FeeParams {
  /** verifierFee = feeLimit × verifierFeeRate / BPS. */
  verifierFeeRate: bigint;
  /** node deposit = feeLimit × depositRate / BPS + verifierFee. */
  depositRate: bigint;
  declinePenaltyRate: bigint;
  timeoutPenaltyRate: bigint;
  rejectPenaltyRate: bigint;
}

/** The contract's defaults: 5% verifier fee, 100% deposit, 25% for each penalty. */
export const DEFAULT_FEE_PARAMS: Readonly<FeeParams> = Object.freeze({
  verifierFeeRate: 500n,
  depositRate: 10_000n,
  declinePenaltyRate: 2_500n,
  timeoutPenaltyRate: 2_500n,
  rejectPenaltyRate: 2_500n,
});

/** Every amount of one (Sub)Job, as EmethCore.quote returns it. */
export interface Quote {
  feeLimit: bigint;
  verifierFee: bigint;
  nodeDeposit: bigint;
  nodePayout: bigint;
  requesterRefund: bigint;
  declinePenalty: bigint;
  timeoutPenalty: bigint;
  rejectPenalty: bigint;
}

export type PenaltyKind = 'decline' | 'timeout' | 'reject';

function nonNegative(name: string, v: bigint): void {
  if (v < 0n) throw new RangeError(`${name} must be ≥ 0, got ${v}`);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** feeLimit = fuelLimit × fuelPrice. */
export function feeLimitOf(fuelLimit: bigint, fuelPrice: bigint): bigint {
  nonNegative('fuelLimit', fuelLimit);
  nonNegative('fuelPrice', fuelPrice);
  return fuelLimit * fuelPrice;
}

/** fee = fuelUsed × fuelPrice. */
export function feeOf(fuelUsed: bigint, fuelPrice: bigint): bigint {
  nonNegative('fuelUsed', fuelUsed);
  nonNegative('fuelPrice', fuelPrice);
  return fuelUsed * fuelPrice;
}

export function verifierFeeOf(feeLimit: bigint, params: FeeParams = DEFAULT_FEE_PARAMS): bigint {
  return (feeLimit * params.verifierFeeRate) / BPS;
}

/** What a requester pays into escrow for an L1 job (or reserves from an L2 deposit): feeLimit + verifierFee. */
export function jobEscrowOf(
  fuelLimit: bigint,
  fuelPrice: bigint,
  params: FeeParams = DEFAULT_FEE_PARAMS,
): bigint {
  const feeLimit = feeLimitOf(fuelLimit, fuelPrice);
  return feeLimit + verifierFeeOf(feeLimit, params);
}

/** What a node locks on `process` for a SubJob with this feeLimit and verifierFee share. */
export function nodeDepositOf(
  feeLimit: bigint,
  verifierFee: bigint,
  params: FeeParams = DEFAULT_FEE_PARAMS,
): bigint {
  return (feeLimit * params.depositRate) / BPS + verifierFee;
}

/** Penalty burned on decline/timeout/reject: feeLimit × rate, never more than the deposit. */
export function penaltyOf(
  kind: PenaltyKind,
  feeLimit: bigint,
  deposit: bigint,
  params: FeeParams = DEFAULT_FEE_PARAMS,
): bigint {
  const rate =
    kind === 'decline'
      ? params.declinePenaltyRate
      : kind === 'timeout'
        ? params.timeoutPenaltyRate
        : params.rejectPenaltyRate;
  return min((feeLimit * rate) / BPS, deposit);
}

/** Every amount of one job as a single unit (EmethCore.quote). */
export function quote(
  fuelLimit: bigint,
  fuelPrice: bigint,
  fuelUsed: bigint,
  params: FeeParams = DEFAULT_FEE_PARAMS,
): Quote {
  if (fuelUsed > fuelLimit) throw new RangeError(`fuelUsed ${fuelUsed} exceeds fuelLimit ${fuelLimit}`);
  const feeLimit = feeLimitOf(fuelLimit, fuelPrice);
  const verifierFee = verifierFeeOf(feeLimit, params);
  const nodeDeposit = nodeDepositOf(feeLimit, verifierFee, params);
  return {
    feeLimit,
    verifierFee,
    nodeDeposit,
    nodePayout: feeOf(fuelUsed, fuelPrice),
    requesterRefund: (fuelLimit - fuelUsed) * fuelPrice,
    declinePenalty: penaltyOf('decline', feeLimit, nodeDeposit, params),
    timeoutPenalty: penaltyOf('timeout', feeLimit, nodeDeposit, params),
    rejectPenalty: penaltyOf('reject', feeLimit, nodeDeposit, params),
  };
}

export interface Shares {
  fuelLimits: bigint[];
  verifierFees: bigint[];
}

/**
 * Splits a job's fuelLimit and verifierFee across SubJobs in proportion to shard sizes
 * (SPEC §4 Decision); the last share takes the rounding remainder so shares sum exactly.
 */
export function splitShares(fuelLimit: bigint, verifierFee: bigint, shardSizes: readonly bigint[]): Shares {
  if (shardSizes.length === 0) throw new RangeError('splitShares needs at least one shard');
  let total = 0n;
  shardSizes.forEach((s, i) => {
    if (s <= 0n) throw new RangeError(`shard ${i} has size ${s}; every shard must be > 0`);
    total += s;
  });
  const fuelLimits: bigint[] = [];
  const verifierFees: bigint[] = [];
  let fuelLeft = fuelLimit;
  let feeLeft = verifierFee;
  for (let i = 0; i < shardSizes.length - 1; i++) {
    const f = (fuelLimit * shardSizes[i]!) / total;
    const v = (verifierFee * shardSizes[i]!) / total;
    fuelLimits.push(f);
    verifierFees.push(v);
    fuelLeft -= f;
    feeLeft -= v;
  }
  fuelLimits.push(fuelLeft);
  verifierFees.push(feeLeft);
  return { fuelLimits, verifierFees };
}

/** Formats holon as a decimal EMETH string without trailing zeros: 14_400_000n × GHOLON → "0.0144". */
export function formatEmeth(holon: bigint): string {
  const neg = holon < 0n;
  const abs = neg ? -holon : holon;
  const whole = abs / EMETH;
  const frac = (abs % EMETH).toString().padStart(18, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** Parses a decimal EMETH amount ("0.0144", "12") into holon; rejects more than 18 decimals. */
export function parseEmeth(text: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,18}))?$/.exec(text.trim());
  if (!m)
    throw new RangeError(`"${text}" is not an EMETH amount (digits, optional '.', at most 18 decimals)`);
  const holon = BigInt(m[2]!) * EMETH + BigInt((m[3] ?? '').padEnd(18, '0') || '0');
  return m[1] ? -holon : holon;
}
