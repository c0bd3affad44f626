/**
 * lib/fees.ts and EmethCore agree, to the holon, on a table of vectors: the contract's `quote`
 * and `splitShares` views against the TypeScript functions, under default and changed parameters,
 * plus a handful of vectors executed as real flows.
 */
import { DEFAULT_FEE_PARAMS, EMETH, GHOLON, quote, splitShares, type FeeParams } from '../../lib/fees';
import { ChainParameter } from '../../lib/types-chain';
import type { EmethBase } from '../../contracts/typed';
import { id32, mined, startHarness, trackBalances, type Harness } from './harness';

jest.setTimeout(120_000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.stop());

/** Deterministic vectors: edge values, the paper's example, and a seeded spread. */
function vectors(): [bigint, bigint, bigint][] {
  const out: [bigint, bigint, bigint][] = [
    [120_000n, 120n * GHOLON, 120_000n],
    [120_000n, 120n * GHOLON, 100_000n],
    [120_000n, 120n * GHOLON, 0n],
    [1n, 1n, 0n],
    [1n, 1n, 1n],
    [3n, 7n, 2n],
    [19n, 1n, 19n], // verifierFee rounds down to 0
    [10n ** 12n, 10n ** 18n, 10n ** 11n], // big, ~uint96
    [999_999n, 333_333_333n, 123_457n],
    [2n ** 64n, 3n, 2n ** 63n],
  ];
  let x = 0x1234_5678n;
  const next = (): bigint => (x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n);
  while (out.length < 60) {
    const fuelLimit = (next() % 5_000_000n) + 1n;
    const fuelPrice = next() % (1_000n * GHOLON);
    out.push([fuelLimit, fuelPrice, next() % (fuelLimit + 1n)]);
  }
  return out;
}

/** The on-chain Quote as a plain object with the same keys as lib/fees' quote(). */
function asObject(q: EmethBase.QuoteStructOutput): Record<string, bigint> {
  return {
    feeLimit: q.feeLimit,
    verifierFee: q.verifierFee,
    nodeDeposit: q.nodeDeposit,
    nodePayout: q.nodePayout,
    requesterRefund: q.requesterRefund,
    declinePenalty: q.declinePenalty,
    timeoutPenalty: q.timeoutPenalty,
    rejectPenalty: q.rejectPenalty,
  };
}

async function setParams(p: FeeParams): Promise<void> {
  const c = h.admin.core;
  await mined(c.setParameter(ChainParameter.VerifierFeeRate, p.verifierFeeRate));
  await mined(c.setParameter(ChainParameter.DepositRate, p.depositRate));
  await mined(c.setParameter(ChainParameter.DeclinePenaltyRate, p.declinePenaltyRate));
  await mined(c.setParameter(ChainParameter.TimeoutPenaltyRate, p.timeoutPenaltyRate));
  await mined(c.setParameter(ChainParameter.RejectPenaltyRate, p.rejectPenaltyRate));
}

const PARAM_SETS: FeeParams[] = [
  DEFAULT_FEE_PARAMS,
  {
    verifierFeeRate: 1n,
    depositRate: 3_333n,
    declinePenaltyRate: 9_999n,
    timeoutPenaltyRate: 0n,
    rejectPenaltyRate: 10_000n,
  },
  {
    verifierFeeRate: 10_000n,
    depositRate: 0n,
    declinePenaltyRate: 7n,
    timeoutPenaltyRate: 5_000n,
    rejectPenaltyRate: 1_234n,
  },
];

describe.each(PARAM_SETS.map((p, i) => [i, p] as const))(
  'quote agrees with the contract (parameter set %i)',
  (_i, params) => {
    beforeAll(async () => setParams(params));

    it('on 60 vectors', async () => {
      const vs = vectors();
      const onChain = await Promise.all(vs.map(([l, p, u]) => h.admin.core.quote(l, p, u)));
      vs.forEach(([l, p, u], k) => {
        expect({ vector: [l, p, u], ...asObject(onChain[k]!) }).toEqual({
          vector: [l, p, u],
          ...quote(l, p, u, params),
        });
      });
    });
  },
);

describe('splitShares agrees with the contract', () => {
  it('on 60 shard tables, and shares always sum to the whole', async () => {
    let x = 42n;
    const next = (m: bigint): bigint =>
      (x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n) % m;
    const cases = Array.from({ length: 60 }, () => {
      const sizes = Array.from({ length: Number(next(8n) + 1n) }, () => next(10_000n) + 1n);
      return { fuelLimit: next(10_000_000n) + 1n, verifierFee: next(10n ** 16n), sizes };
    });
    const onChain = await Promise.all(
      cases.map((c) => h.admin.core.splitShares(c.fuelLimit, c.verifierFee, c.sizes)),
    );
    cases.forEach((c, k) => {
      const mine = splitShares(c.fuelLimit, c.verifierFee, c.sizes);
      expect({ fuel: [...onChain[k]![0]], vfee: [...onChain[k]![1]] }).toEqual({
        fuel: mine.fuelLimits,
        vfee: mine.verifierFees,
      });
      expect(mine.fuelLimits.reduce((a, b) => a + b, 0n)).toBe(c.fuelLimit);
      expect(mine.verifierFees.reduce((a, b) => a + b, 0n)).toBe(c.verifierFee);
    });
  });
});

describe('executed flows pay what lib/fees.ts says', () => {
  beforeAll(async () => {
    await setParams(DEFAULT_FEE_PARAMS);
    await mined(h.actor('node').core.registerNode(1_000n * EMETH, id32('k'), 1));
  });

  // Vectors whose deposit the node's stake covers.
  const flows = vectors()
    .filter(([l, p]) => l * p <= 500n * EMETH)
    .slice(0, 10)
    .map((v, i) => [i, ...v] as const);
  it.each(flows)(
    'vector %i: decline, then process, submit, verify',
    async (i, fuelLimit, fuelPrice, fuelUsed) => {
      const [requester, node, verifier, server] = ['requester', 'node', 'verifier', 'server'].map((n) =>
        h.actor(n),
      );
      const q = quote(fuelLimit, fuelPrice, fuelUsed);
      const deadline = BigInt((await h.provider.getBlock('latest'))!.timestamp) + 86_400n;
      const t = await trackBalances(h, { r: requester!.address, n: node!.address, v: verifier!.address });
      const jobId = id32(`flow-${i}`);
      await mined(requester!.core.request(jobId, 1, fuelLimit, fuelPrice, deadline, id32('d')));
      await mined(server!.core.registerSubJobs(jobId, [1n]));
      const stake0 = (await node!.core.getNode(node!.address)).stake;
      await mined(node!.core.process(jobId, 0));
      expect((await node!.core.getNode(node!.address)).locked).toBe(q.nodeDeposit);
      await mined(node!.core.decline(jobId, 0));
      expect((await node!.core.getNode(node!.address)).stake).toBe(stake0 - q.declinePenalty);
      await mined(node!.core.process(jobId, 0));
      await mined(node!.core.submit(jobId, 0, id32('r'), fuelUsed));
      await mined(verifier!.core.verify(jobId, 0));
      expect(await t.deltas()).toEqual({
        r: -(q.feeLimit + q.verifierFee) + q.requesterRefund,
        n: q.nodePayout,
        v: q.verifierFee,
      });
    },
  );
});
