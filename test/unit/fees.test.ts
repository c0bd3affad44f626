import {
  DEFAULT_FEE_PARAMS,
  EMETH,
  GHOLON,
  feeLimitOf,
  feeOf,
  formatEmeth,
  jobEscrowOf,
  nodeDepositOf,
  parseEmeth,
  penaltyOf,
  quote,
  splitShares,
  verifierFeeOf,
} from '../../lib/fees';

describe('lib/fees', () => {
  it("the paper's example: 120,000 fuel × 120 Gholon = 14,400,000 Gholon = 0.0144 EMETH", () => {
    const feeLimit = feeLimitOf(120_000n, 120n * GHOLON);
    expect(feeLimit).toBe(14_400_000n * GHOLON);
    expect(formatEmeth(feeLimit)).toBe('0.0144');
    expect(parseEmeth('0.0144')).toBe(feeLimit);
  });

  it('defaults: verifier fee 5%, deposit 100% + verifier fee, penalties 25%', () => {
    const q = quote(120_000n, 120n * GHOLON, 100_000n);
    expect(q).toEqual({
      feeLimit: 14_400_000n * GHOLON,
      verifierFee: 720_000n * GHOLON,
      nodeDeposit: 15_120_000n * GHOLON,
      nodePayout: 12_000_000n * GHOLON,
      requesterRefund: 2_400_000n * GHOLON,
      declinePenalty: 3_600_000n * GHOLON,
      timeoutPenalty: 3_600_000n * GHOLON,
      rejectPenalty: 3_600_000n * GHOLON,
    });
    expect(q.nodePayout + q.requesterRefund).toBe(q.feeLimit);
    expect(jobEscrowOf(120_000n, 120n * GHOLON)).toBe(q.feeLimit + q.verifierFee);
    expect(DEFAULT_FEE_PARAMS.verifierFeeRate).toBe(500n);
  });

  it('rounds down like Solidity', () => {
    expect(verifierFeeOf(19n)).toBe(0n);
    expect(verifierFeeOf(20n)).toBe(1n);
    expect(nodeDepositOf(3n, 0n, { ...DEFAULT_FEE_PARAMS, depositRate: 3_333n })).toBe(0n);
    expect(feeOf(7n, 3n)).toBe(21n);
  });

  it('caps a penalty at the deposit', () => {
    expect(penaltyOf('reject', 100n, 10n, { ...DEFAULT_FEE_PARAMS, rejectPenaltyRate: 10_000n })).toBe(10n);
    expect(penaltyOf('timeout', 100n, 1_000n)).toBe(25n);
  });

  it('refuses fuelUsed > fuelLimit and negative amounts', () => {
    expect(() => quote(10n, 1n, 11n)).toThrow(/exceeds fuelLimit/);
    expect(() => feeLimitOf(-1n, 1n)).toThrow(/fuelLimit must be/);
  });

  it('splits shares in proportion to shard sizes, the last taking the remainder', () => {
    expect(splitShares(10n, 7n, [1n, 1n, 1n])).toEqual({
      fuelLimits: [3n, 3n, 4n],
      verifierFees: [2n, 2n, 3n],
    });
    expect(splitShares(100n, 0n, [1n, 3n])).toEqual({ fuelLimits: [25n, 75n], verifierFees: [0n, 0n] });
    expect(() => splitShares(1n, 1n, [])).toThrow(/at least one shard/);
    expect(() => splitShares(1n, 1n, [1n, 0n])).toThrow(/shard 1/);
  });

  it('formats and parses EMETH amounts', () => {
    expect(formatEmeth(EMETH)).toBe('1');
    expect(formatEmeth(1n)).toBe('0.000000000000000001');
    expect(formatEmeth(-15n * 10n ** 17n)).toBe('-1.5');
    expect(parseEmeth('12.5')).toBe(125n * 10n ** 17n);
    expect(() => parseEmeth('1.0000000000000000001')).toThrow(/at most 18 decimals/);
    expect(() => parseEmeth('abc')).toThrow(/not an EMETH amount/);
  });
});
