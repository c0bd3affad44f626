// The verification policy's arithmetic: what is checked, what a lie costs, and that no cheating
// strategy has a positive expected profit at the default fees and fines.
import {
  DEFAULT_VERIFICATION_POLICY,
  DEFAULT_VERIFICATION_POLICY as P,
  caughtWithin,
  cheatProfit,
  decideCheck,
  detectionProbability,
  establishedOverhead,
  fineMultipleOf,
  fineOf,
  auditsVerdict,
  verdictFineOf,
} from '../../lib/verification-policy';
import { FEDAVG_TRAIN_SPEC, ONNX_INFERENCE_SPEC, ENCRYPTED_STATS_SPEC } from '../../lib/programs';
import { penaltyAmount, worstPenaltyOf } from '../../activities/dispatcher/penalties';
import { DEFAULT_FEE_PARAMS } from '../../lib/fees';

test('a node on probation is checked in full; an established one is audited at the audit rate, spot-checked otherwise', () => {
  for (const r of [0, 1, P.probationSubJobs - 1])
    expect(decideCheck(P, r, 0.999)).toEqual({ sampleRate: 1, why: 'probation' });
  let audits = 0;
  const draws = 100_000;
  for (let i = 0; i < draws; i++)
    if (decideCheck(P, P.probationSubJobs, (i + 0.5) / draws).why === 'audit') audits++;
  expect(audits / draws).toBeCloseTo(P.auditRate, 3);
  expect(decideCheck(P, 1_000, 0.5)).toEqual({ sampleRate: P.spotRowRate, why: 'spot' });
});

test('the fine is the break-even bound at the audit rate times the margin: 13.5 × the fee limit by default', () => {
  expect(fineMultipleOf(P)).toBeCloseTo(13.5, 10);
  expect(fineOf(P, 1_000_000n)).toBe(13_500_000n);
  expect(fineOf(P, 1n)).toBe(14n); // rounded up: the bound must hold
  expect(() => fineMultipleOf({ ...P, auditRate: 0 })).toThrow(/auditRate must be in \(0, 1\]/);
});

test('a lie costs the fine (capped by the stake), which is what opening an attempt locks', () => {
  const fee = 10n ** 15n;
  expect(penaltyAmount('reject', fee, 10n ** 18n, DEFAULT_FEE_PARAMS, P)).toBe(fineOf(P, fee));
  expect(penaltyAmount('reject', fee, 5n, DEFAULT_FEE_PARAMS, P)).toBe(5n);
  expect(penaltyAmount('timeout', fee, 10n ** 18n, DEFAULT_FEE_PARAMS, P)).toBe(fee / 4n);
  expect(worstPenaltyOf(fee, DEFAULT_FEE_PARAMS, P)).toBe(fineOf(P, fee));
});

describe('no strategy has a positive expected profit at the default policy, even when compute costs the whole fee', () => {
  const rows = 100;
  const strategies = [
    { name: 'lazy (every row wrong)', corrupt: rows },
    { name: 'partial, 10% of rows', corrupt: 10 },
    { name: 'partial, one row', corrupt: 1 },
  ];
  for (const spec of [ONNX_INFERENCE_SPEC, ENCRYPTED_STATS_SPEC, FEDAVG_TRAIN_SPEC]) {
    test.each(strategies)(`${spec.name}: %s`, ({ corrupt }) => {
      const policy = spec.verification;
      const d = detectionProbability(policy, rows, corrupt);
      expect(d).toBeGreaterThanOrEqual(policy.auditRate);
      for (const costShare of [0.1, 0.5, 1]) {
        expect(cheatProfit(d, corrupt / rows, costShare, fineMultipleOf(policy))).toBeLessThan(0);
      }
    });
  }
});

test('detection: a lazy node is caught on every SubJob; a one-row liar at the audit rate plus its spot-check odds', () => {
  expect(detectionProbability(P, 100, 100)).toBe(1);
  expect(detectionProbability(P, 100, 0)).toBe(0);
  const oneRow = detectionProbability(P, 100, 1);
  expect(oneRow).toBeCloseTo(0.1 + 0.9 * 0.02, 6);
  expect(caughtWithin(oneRow, 20)).toBeCloseTo(1 - (1 - oneRow) ** 20, 12);
  expect(establishedOverhead(P)).toBeCloseTo(0.1 + 0.9 * 0.02, 12);
  expect(establishedOverhead(P)).toBeLessThanOrEqual(0.15);
});

test('the deployment overrides the policy through EMETH_VERIFY_*, and a bad value is refused naming the variable', async () => {
  const { loadConfig } = await import('../../lib/config');
  const { withOverrides } = await import('../../lib/verification-policy');
  const config = loadConfig({
    EMETH_VERIFY_AUDIT_RATE: '0.2',
    EMETH_VERIFY_PROBATION: '3',
    EMETH_VERIFY_FINE_MARGIN: '2',
  });
  expect(config.l2.verification).toEqual({ auditRate: 0.2, probationSubJobs: 3, fineMargin: 2 });
  const policy = withOverrides(ONNX_INFERENCE_SPEC.verification, config.l2.verification);
  expect(fineMultipleOf(policy)).toBeCloseTo(8, 10); // (1 − 0.2)/0.2 × 2
  expect(loadConfig({}).l2.verification).toEqual({});
  expect(() => loadConfig({ EMETH_VERIFY_AUDIT_RATE: '1.5' })).toThrow(
    /EMETH_VERIFY_AUDIT_RATE must be a share in \(0, 1\]/,
  );
  expect(() => loadConfig({ EMETH_VERIFY_PROBATION: '2.5' })).toThrow(
    /EMETH_VERIFY_PROBATION must be an integer/,
  );
  expect(
    loadConfig({ EMETH_VERIFY_VERDICT_AUDIT_RATE: '0.5', EMETH_VERIFY_CANARY_RATE: '0.05' }).l2.verification,
  ).toEqual({ verdictAuditRate: 0.5, canaryRate: 0.05 });
  expect(() => loadConfig({ EMETH_VERIFY_CANARY_RATE: '2' })).toThrow(
    /EMETH_VERIFY_CANARY_RATE must be a share/,
  );
  expect(() => loadConfig({ EMETH_VERIFY_VERDICT_AUDIT_RATE: '0' })).toThrow(
    /EMETH_VERIFY_VERDICT_AUDIT_RATE must be a share/,
  );
  // Canaries are the operator's choice: off unless set.
  expect(DEFAULT_VERIFICATION_POLICY.canaryRate).toBe(0);
});

describe('verdict audits (issue 12 item 5)', () => {
  it('re-checks every rejection and a verdictAuditRate share of acceptances', () => {
    expect(auditsVerdict(P, false, 0.999)).toBe(true);
    let audited = 0;
    for (let i = 0; i < 1000; i++) if (auditsVerdict(P, true, i / 1000)) audited++;
    expect(audited).toBe(Math.round(P.verdictAuditRate * 1000));
  });

  it("a wrong verdict costs more than waving a lie through saves and more than a false rejection's reward", () => {
    const F = 1_000_000n;
    const verdictFine = verdictFineOf(P, F);
    // Waving a lie through saves a colluding node at most F; caught at verdictAuditRate, it pays the fine.
    const r = P.verdictAuditRate;
    expect(r * Number(verdictFine) - (1 - r) * Number(F)).toBeGreaterThan(0);
    // A false rejection is always audited; it would earn the prover's half of the node's fine.
    expect(verdictFine).toBeGreaterThanOrEqual(fineOf(P, F) / 2n);
    expect(() => verdictFineOf({ ...P, verdictAuditRate: 0 }, F)).toThrow(/verdictAuditRate/);
  });
});
