/**
 * Verification that never pays to cheat: how often a node's work is checked and how much a proven
 * mismatch costs it, per program, and the arithmetic that shows cheating loses money.
 *
 * The model (after BOINC's adaptive replication): a node starts on probation — every SubJob it
 * does for a program is re-executed in full — and earns reputation only with verified SubJobs of
 * other requesters' Jobs; a mismatch resets it. An established node has a share `auditRate` of its
 * SubJobs re-executed in full, drawn after it answered, and a few rows (`spotRowRate`) of every
 * other SubJob. A proven mismatch forfeits the SubJob's pay and costs a fine of `fineMultiple` ×
 * its fee limit. With detection probability d per SubJob and a cheat that saves the share c of
 * the work's cost C ≤ F (its fee), the cheat's expected gain over honest work is
 *     Δ = c·C − d·(F + fine)
 * which is negative for every c when d·(F + fine) > F, i.e. fine > F·(1 − d)/d. The policy's fine
 * is that bound at the lowest detection any strategy meets (d = auditRate), times a safety margin.
 *
 * Pure: workflows and the bench import it.
 */

export interface VerificationPolicy {
  /** Verified SubJobs (other requesters' Jobs, since the last mismatch) before the node is established. */
  probationSubJobs: number;
  /** Share of an established node's SubJobs re-executed in full (0..1). */
  auditRate: number;
  /** Share of rows spot-checked on every SubJob that is not audited (at least one row). */
  spotRowRate: number;
  /** Safety margin on the break-even fine (≥ 1). */
  fineMargin: number;
  /**
   * Share of accepting verdicts re-checked by a second verifier (every rejecting verdict is, since
   * it fines the node and rewards its verifier). A disagreement goes to a third verifier, and the
   * verifier it overrules pays `verdictFineOf`.
   */
  verdictAuditRate: number;
  /**
   * Share of SubJobs verified in full that are re-issued as canaries: the same task, to another
   * node of the class, whose answer is compared with the known one. 0 by default: a canary shows
   * the requester's shard to one more node, which the operator must choose to allow.
   */
  canaryRate: number;
}

export const DEFAULT_VERIFICATION_POLICY: Readonly<VerificationPolicy> = Object.freeze({
  probationSubJobs: 10,
  auditRate: 0.1,
  spotRowRate: 0.02,
  fineMargin: 1.5,
  verdictAuditRate: 0.1,
  canaryRate: 0,
});

/** A program's policy with the deployment's overrides (EMETH_VERIFY_*) applied. */
export function withOverrides(
  policy: VerificationPolicy,
  overrides: Partial<VerificationPolicy> = {},
): VerificationPolicy {
  return { ...policy, ...overrides };
}

export interface CheckDecision {
  /** Share of the SubJob's rows the verifier re-executes (1 = every row). */
  sampleRate: number;
  /** Why: shown in the workflow history and the logs. */
  why: 'probation' | 'audit' | 'spot';
}

/**
 * The check of one SubJob of a node with `reputation`, given a uniform draw in [0, 1) made after
 * the node answered (so it cannot know which SubJobs are audited).
 */
export function decideCheck(policy: VerificationPolicy, reputation: number, draw: number): CheckDecision {
  if (reputation < policy.probationSubJobs) return { sampleRate: 1, why: 'probation' };
  if (draw < policy.auditRate) return { sampleRate: 1, why: 'audit' };
  return { sampleRate: policy.spotRowRate, why: 'spot' };
}

/** The fine for a proven mismatch as a multiple of the SubJob's fee limit: F·(1 − d)/d × margin at d = auditRate. */
export function fineMultipleOf(policy: VerificationPolicy): number {
  const d = policy.auditRate;
  if (!(d > 0 && d <= 1)) throw new RangeError(`auditRate must be in (0, 1], got ${d}`);
  return ((1 - d) / d) * policy.fineMargin;
}

/** The fine in holon for a SubJob of this fee limit (rounded up: the bound must hold). */
export function fineOf(policy: VerificationPolicy, feeLimit: bigint): bigint {
  const millionths = BigInt(Math.ceil(fineMultipleOf(policy) * 1_000_000));
  return (feeLimit * millionths + 999_999n) / 1_000_000n;
}

/**
 * What a wrong verdict costs its verifier: the break-even fine at d = verdictAuditRate, for a
 * verifier that waves a lie through (and so saves its colluding node the SubJob's work, worth at
 * most its fee F), times the margin. A false rejection, always audited, would earn the verifier
 * proverShare × fineOf(F) ≤ fineOf(F); this is at least that whenever verdictAuditRate ≤ auditRate.
 */
export function verdictFineOf(policy: VerificationPolicy, feeLimit: bigint): bigint {
  const r = policy.verdictAuditRate;
  if (!(r > 0 && r <= 1)) throw new RangeError(`verdictAuditRate must be in (0, 1], got ${r}`);
  const multiple = Math.max(((1 - r) / r) * policy.fineMargin, fineMultipleOf(policy));
  const millionths = BigInt(Math.ceil(multiple * 1_000_000));
  return (feeLimit * millionths + 999_999n) / 1_000_000n;
}

/** Whether a verdict is re-checked by a second verifier, given a uniform draw in [0, 1) made after it came. */
export const auditsVerdict = (policy: VerificationPolicy, valid: boolean, draw: number): boolean =>
  !valid || draw < policy.verdictAuditRate;

/**
 * Probability that an established node's SubJob of `rows` rows with `corruptRows` wrong rows is
 * caught: audited, or a spot-checked row is one of the wrong ones (sampling without replacement).
 */
export function detectionProbability(policy: VerificationPolicy, rows: number, corruptRows: number): number {
  if (corruptRows <= 0) return 0;
  // The verifier's sample (lib/programs sampleRows): ceil(rows × rate), at least one row when rate > 0.
  const sampled =
    policy.spotRowRate > 0 ? Math.min(rows, Math.max(1, Math.ceil(rows * policy.spotRowRate))) : 0;
  let miss = 1;
  for (let i = 0; i < sampled; i++) miss *= Math.max(0, (rows - corruptRows - i) / (rows - i));
  return policy.auditRate + (1 - policy.auditRate) * (1 - miss);
}

/** Probability of being caught at least once within `subJobs` SubJobs at `d` each. */
export const caughtWithin = (d: number, subJobs: number): number => 1 - (1 - d) ** subJobs;

/**
 * A cheat's expected profit per SubJob over honest work, in units of the SubJob's fee: it saves
 * `savedShare` of the work, whose cost is `costShare` of the fee; caught with probability `d`, it
 * loses the fee and pays the fine.
 */
export function cheatProfit(d: number, savedShare: number, costShare: number, fineMultiple: number): number {
  return savedShare * costShare - d * (1 + fineMultiple);
}

/** Extra compute on honest work (verifier re-execution ÷ useful compute) for an established node. */
export const establishedOverhead = (policy: VerificationPolicy): number =>
  policy.auditRate + (1 - policy.auditRate) * policy.spotRowRate;
