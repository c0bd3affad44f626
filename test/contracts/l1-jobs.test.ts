/**
 * EmethCore L1 process (SPEC §3-§4): every transition, every way a Job ends, balances to the holon.
 */
import { expectRevert, id32, mined, startHarness, trackBalances, type Actor, type Harness } from './harness';
import { EMETH, GHOLON, quote, splitShares, penaltyOf, nodeDepositOf } from '../../lib/fees';
import { ChainParameter, JobStatus, SubJobStatus } from '../../lib/types-chain';
import { emethL1 } from '../../contracts/typed';
import { signL1Request, type L1Request } from '../../activities/chain';
import { emethDomain } from '../../lib/tickets';

jest.setTimeout(120_000);

const PAPER_FUEL_LIMIT = 120_000n;
const PAPER_FUEL_PRICE = 120n * GHOLON;
const STAKE = 100n * EMETH;

let h: Harness;
let requester: Actor,
  node: Actor,
  node2: Actor,
  verifier: Actor,
  server: Actor,
  outsider: Actor,
  admin: Actor;
let snap: string;
let seq = 0;

beforeAll(async () => {
  h = await startHarness();
  [requester, node, node2, verifier, server, outsider, admin] = [
    'requester',
    'node',
    'node2',
    'verifier',
    'server',
    'outsider',
    'admin',
  ].map((n) => h.actor(n)) as unknown as [Actor, Actor, Actor, Actor, Actor, Actor, Actor, Actor];
  await mined(node.core.registerNode(STAKE, id32('node-key'), 3080));
  await mined(node2.core.registerNode(STAKE, id32('node2-key'), 4090));
});
afterAll(async () => h?.stop());
beforeEach(async () => {
  snap = await h.snapshot();
});
afterEach(async () => {
  await h.revert(snap);
});

/** Requests a job and (optionally) splits it into shards; returns its id. */
async function newJob(
  opts: {
    fuelLimit?: bigint;
    fuelPrice?: bigint;
    shards?: bigint[] | null;
    deadlineIn?: bigint;
    programId?: number;
  } = {},
) {
  const jobId = id32(`job-${++seq}`);
  const deadline = (await h.now()) + (opts.deadlineIn ?? 86_400n);
  await mined(
    requester.core.request(
      jobId,
      opts.programId ?? 1,
      opts.fuelLimit ?? PAPER_FUEL_LIMIT,
      opts.fuelPrice ?? PAPER_FUEL_PRICE,
      deadline,
      id32('dataset'),
    ),
  );
  if (opts.shards !== null) await mined(server.core.registerSubJobs(jobId, opts.shards ?? [1n]));
  return jobId;
}

async function job(jobId: string) {
  return requester.core.getJob(jobId);
}
async function sub(jobId: string, i = 0) {
  return requester.core.getSubJob(jobId, i);
}
async function stakeOf(a: Actor): Promise<{ stake: bigint; locked: bigint }> {
  const n = await a.core.getNode(a.address);
  return { stake: n.stake, locked: n.locked };
}

describe('the paper example (120,000 fuel × 120 Gholon)', () => {
  it('escrows feeLimit + verifierFee = 0.0144 + 0.00072 EMETH on request', async () => {
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);
    expect(q.feeLimit).toBe(14_400_000n * GHOLON);
    expect(q.feeLimit).toBe(144n * 10n ** 14n); // 0.0144 EMETH
    const t = await trackBalances(h, { requester: requester.address, core: h.deployment.core });
    const jobId = await newJob({ shards: null });
    expect(await t.deltas()).toEqual({
      requester: -(q.feeLimit + q.verifierFee),
      core: q.feeLimit + q.verifierFee,
    });
    const j = await job(jobId);
    expect(j.status).toBe(BigInt(JobStatus.Requested));
    expect(j.escrow).toBe(15_120_000n * GHOLON);
    expect(j.verifierFee).toBe(720_000n * GHOLON);
  });

  it('request → process → submit → verify pays node, refunds unused fuel, pays the verifier', async () => {
    const used = 100_000n;
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, used);
    const t = await trackBalances(h, {
      requester: requester.address,
      node: node.address,
      verifier: verifier.address,
      core: h.deployment.core,
    });
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    expect(await stakeOf(node)).toEqual({ stake: STAKE, locked: q.nodeDeposit });
    expect(q.nodeDeposit).toBe(14_400_000n * GHOLON + 720_000n * GHOLON);
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Processing));
    await mined(node.core.submit(jobId, 0, id32('result'), used));
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Submitted));
    await mined(verifier.core.verify(jobId, 0));
    expect(await t.deltas()).toEqual({
      requester: -(used * PAPER_FUEL_PRICE) - q.verifierFee, // paid 0.012 + 0.00072
      node: 12_000_000n * GHOLON, // 0.012 EMETH
      verifier: 720_000n * GHOLON,
      core: 0n,
    });
    expect(q.requesterRefund).toBe(2_400_000n * GHOLON);
    expect(await stakeOf(node)).toEqual({ stake: STAKE, locked: 0n });
    const j = await job(jobId);
    expect(j.status).toBe(BigInt(JobStatus.Finished));
    expect(j.escrow).toBe(0n);
    expect(j.verifiedCount).toBe(1n);
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Verified));
  });

  it('fuelUsed = fuelLimit pays the whole feeLimit and refunds nothing', async () => {
    const t = await trackBalances(h, { requester: requester.address, node: node.address });
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    await mined(node.core.submit(jobId, 0, id32('r'), PAPER_FUEL_LIMIT));
    await mined(verifier.core.verify(jobId, 0));
    expect(await t.deltas()).toEqual({ requester: -15_120_000n * GHOLON, node: 14_400_000n * GHOLON });
  });
});

describe('cancel', () => {
  it('before split: full refund, Cancelled', async () => {
    const t = await trackBalances(h, { requester: requester.address, core: h.deployment.core });
    const jobId = await newJob({ shards: null });
    await mined(requester.core.cancel(jobId));
    expect(await t.deltas()).toEqual({ requester: 0n, core: 0n });
    const j = await job(jobId);
    expect(j.status).toBe(BigInt(JobStatus.Cancelled));
    expect(j.escrow).toBe(0n);
  });

  it('after split, before any process: full refund, and SubJobs can no longer be processed', async () => {
    const t = await trackBalances(h, { requester: requester.address });
    const jobId = await newJob({ shards: [1n, 1n] });
    await mined(requester.core.cancel(jobId));
    expect(await t.deltas()).toEqual({ requester: 0n });
    await expectRevert(node.core.process(jobId, 0), 'InvalidJobStatus', [jobId, BigInt(JobStatus.Cancelled)]);
  });

  it('after process: JobAlreadyProcessing, even after the node declines', async () => {
    const jobId = await newJob({ shards: [1n, 1n] });
    await mined(node.core.process(jobId, 1));
    await expectRevert(requester.core.cancel(jobId), 'JobAlreadyProcessing', [jobId]);
    await mined(node.core.decline(jobId, 1));
    await expectRevert(requester.core.cancel(jobId), 'JobAlreadyProcessing', [jobId]);
  });

  it('only the requester may cancel; twice is refused', async () => {
    const jobId = await newJob({ shards: null });
    await expectRevert(outsider.core.cancel(jobId), 'NotRequester', [jobId, outsider.address]);
    await mined(requester.core.cancel(jobId));
    await expectRevert(requester.core.cancel(jobId), 'InvalidJobStatus', [
      jobId,
      BigInt(JobStatus.Cancelled),
    ]);
  });
});

describe('penalties are burned and the SubJob is re-offered', () => {
  const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);

  it('decline: 25% of feeLimit burned from the stake, rest unlocked, re-offered, then verified by another node', async () => {
    const jobId = await newJob();
    const supply0: bigint = await admin.token.totalSupply();
    await mined(node.core.process(jobId, 0));
    await mined(node.core.decline(jobId, 0));
    expect(q.declinePenalty).toBe(3_600_000n * GHOLON);
    expect(await stakeOf(node)).toEqual({ stake: STAKE - q.declinePenalty, locked: 0n });
    expect(await admin.token.totalSupply()).toBe(supply0 - q.declinePenalty);
    expect(await admin.core.totalBurned()).toBe(q.declinePenalty);
    const s = await sub(jobId);
    expect(s.status).toBe(BigInt(SubJobStatus.Open));
    expect(s.retries).toBe(1n);
    expect(s.node).toBe('0x0000000000000000000000000000000000000000');

    const t = await trackBalances(h, {
      requester: requester.address,
      node2: node2.address,
      verifier: verifier.address,
    });
    await mined(node2.core.process(jobId, 0));
    await mined(node2.core.submit(jobId, 0, id32('r'), 60_000n));
    await mined(verifier.core.verify(jobId, 0));
    expect(await t.deltas()).toEqual({
      requester: 60_000n * PAPER_FUEL_PRICE,
      node2: 60_000n * PAPER_FUEL_PRICE,
      verifier: q.verifierFee,
    });
    expect((await job(jobId)).escrow).toBe(0n);
  });

  it('decline only by the assigned node, only while Processing', async () => {
    const jobId = await newJob();
    await expectRevert(node.core.decline(jobId, 0), 'InvalidSubJobStatus', [
      jobId,
      0n,
      BigInt(SubJobStatus.Open),
    ]);
    await mined(node.core.process(jobId, 0));
    await expectRevert(node2.core.decline(jobId, 0), 'NotAssignedNode', [jobId, 0n, node2.address]);
    await expectRevert(node2.core.submit(jobId, 0, id32('r'), 1n), 'NotAssignedNode', [
      jobId,
      0n,
      node2.address,
    ]);
    await mined(node.core.submit(jobId, 0, id32('r'), 1n));
    await expectRevert(node.core.decline(jobId, 0), 'InvalidSubJobStatus', [
      jobId,
      0n,
      BigInt(SubJobStatus.Submitted),
    ]);
  });

  it('reject: penalty burned, re-offered', async () => {
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    await mined(node.core.submit(jobId, 0, id32('bad'), 1_000n));
    const t = await trackBalances(h, {
      requester: requester.address,
      node: node.address,
      verifier: verifier.address,
    });
    await mined(verifier.core.reject(jobId, 0));
    expect(await t.deltas()).toEqual({ requester: 0n, node: 0n, verifier: 0n });
    expect(await stakeOf(node)).toEqual({ stake: STAKE - q.rejectPenalty, locked: 0n });
    const s = await sub(jobId);
    expect(s.status).toBe(BigInt(SubJobStatus.Open));
    expect(s.fuelUsed).toBe(0n);
    expect(s.resultDigest).toBe('0x' + '00'.repeat(32));
  });

  it('timeout: refused before the deadline (NotOverdue), penalty after it', async () => {
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    const s = await sub(jobId);
    await expectRevert(verifier.core.timeout(jobId, 0), 'NotOverdue', [jobId, 0n, s.deadline]);
    await h.increaseTime(3601);
    await mined(verifier.core.timeout(jobId, 0));
    expect(await stakeOf(node)).toEqual({ stake: STAKE - q.timeoutPenalty, locked: 0n });
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Open));
  });
});

describe('L1 deadline exits: anyone may time out a stuck SubJob after its deadline + timeoutGrace', () => {
  const GRACE = 86_400n; // the default timeoutGrace

  it('Submitted and never judged: refused before deadline + grace, then failed without a penalty, share refunded', async () => {
    expect(await admin.core.timeoutGrace()).toBe(GRACE);
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    await mined(node.core.submit(jobId, 0, id32('r'), 1n));
    const { deadline } = await sub(jobId);
    await h.increaseTime(3601);
    // Past the deadline a verifier still decides a Submitted SubJob: no timeout before the grace.
    await expectRevert(verifier.core.timeout(jobId, 0), 'NotOverdue', [jobId, 0n, deadline + GRACE]);
    await expectRevert(outsider.core.timeout(jobId, 0), 'NotOverdue', [jobId, 0n, deadline + GRACE]);
    const t = await trackBalances(h, { requester: requester.address, node: node.address });
    const before = await stakeOf(node);
    await h.increaseTime(GRACE);
    await mined(outsider.core.timeout(jobId, 0));
    const s = await sub(jobId);
    expect(s.status).toBe(BigInt(SubJobStatus.Failed));
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);
    // Nobody is fined (the verifier was the one absent): the node's deposit is unlocked in full.
    expect(await stakeOf(node)).toEqual({ stake: before.stake, locked: 0n });
    expect(await t.deltas()).toEqual({ requester: q.feeLimit + q.verifierFee, node: 0n });
    const j = await job(jobId);
    expect([j.status, j.escrow]).toEqual([BigInt(JobStatus.Finished), 0n]);
  });

  it('Processing past deadline + grace: anyone times it out with the timeout penalty; not a second before', async () => {
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    const { deadline } = await sub(jobId);
    await h.increaseTime(3601);
    await expectRevert(outsider.core.timeout(jobId, 0), 'NotOverdue', [jobId, 0n, deadline + GRACE]);
    await h.increaseTime(GRACE);
    const supply = await h.admin.token.totalSupply();
    await mined(outsider.core.timeout(jobId, 0));
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);
    expect(await h.admin.token.totalSupply()).toBe(supply - q.timeoutPenalty);
    expect((await stakeOf(node)).locked).toBe(0n);
    // The job's deadline (a day) has passed too: no retry, the SubJob fails and is refunded.
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Failed));
    expect((await job(jobId)).escrow).toBe(0n);
  });

  it('Open past the job deadline + grace: anyone fails it and the requester is refunded', async () => {
    const jobId = await newJob({ deadlineIn: 600n });
    await h.increaseTime(601);
    const j = await job(jobId);
    await expectRevert(outsider.core.timeout(jobId, 0), 'NotOverdue', [jobId, 0n, j.deadline + GRACE]);
    await h.increaseTime(GRACE);
    const t = await trackBalances(h, { requester: requester.address });
    await mined(outsider.core.timeout(jobId, 0));
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);
    expect(await t.deltas()).toEqual({ requester: q.feeLimit + q.verifierFee });
  });

  it('timeoutGrace is a governance parameter', async () => {
    await expectRevert(
      outsider.core.setParameter(ChainParameter.TimeoutGrace, 600),
      'AccessControlUnauthorizedAccount',
    );
    await mined(admin.core.setParameter(ChainParameter.TimeoutGrace, 600));
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    const { deadline } = await sub(jobId);
    await h.increaseTime(3601);
    await expectRevert(outsider.core.timeout(jobId, 0), 'NotOverdue', [jobId, 0n, deadline + 600n]);
    await h.increaseTime(600);
    await mined(outsider.core.timeout(jobId, 0));
    expect((await sub(jobId)).retries).toBe(1n); // re-offered: the job deadline is still ahead
  });

  it('EmethL1 called directly (not through EmethCore) refuses: its own storage is never used', async () => {
    const l1 = emethL1(await admin.core.l1(), admin.signer);
    await expectRevert(l1.timeout(id32('x'), 0), 'NotDelegated');
  });
});

describe('retries exhausted and overdue jobs end Failed with the requester refunded in full', () => {
  it('maxRetries = 3: the 4th failure (timeouts) fails the SubJob and refunds the whole escrow (old bug: timeout refunded nothing)', async () => {
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);
    const t = await trackBalances(h, { requester: requester.address, core: h.deployment.core });
    const supply0: bigint = await admin.token.totalSupply();
    const jobId = await newJob({ deadlineIn: 10n * 86_400n });
    for (let attempt = 0; attempt < 4; attempt++) {
      expect((await sub(jobId)).retries).toBe(BigInt(attempt));
      await mined(node.core.process(jobId, 0));
      await h.increaseTime(3601);
      await mined(verifier.core.timeout(jobId, 0));
    }
    const s = await sub(jobId);
    expect(s.status).toBe(BigInt(SubJobStatus.Failed));
    expect(s.retries).toBe(3n);
    const j = await job(jobId);
    expect(j.status).toBe(BigInt(JobStatus.Finished));
    expect(j.failedCount).toBe(1n);
    expect(j.escrow).toBe(0n);
    // The requester got everything back; the node lost 4 penalties (old bug: penalties never applied).
    expect(await t.deltas()).toEqual({ requester: 0n, core: -4n * q.timeoutPenalty });
    expect(await stakeOf(node)).toEqual({ stake: STAKE - 4n * q.timeoutPenalty, locked: 0n });
    expect(await admin.token.totalSupply()).toBe(supply0 - 4n * q.timeoutPenalty);
  });

  it('mixed failures (decline, reject, timeout, decline) with maxRetries = 3 fail the SubJob', async () => {
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);
    const jobId = await newJob({ deadlineIn: 10n * 86_400n });
    const t = await trackBalances(h, { requester: requester.address });
    await mined(node.core.process(jobId, 0));
    await mined(node.core.decline(jobId, 0));
    await mined(node2.core.process(jobId, 0));
    await mined(node2.core.submit(jobId, 0, id32('bad'), 5n));
    await mined(verifier.core.reject(jobId, 0));
    await mined(node.core.process(jobId, 0));
    await h.increaseTime(3601);
    await mined(verifier.core.timeout(jobId, 0));
    await mined(node2.core.process(jobId, 0));
    await mined(node2.core.decline(jobId, 0));
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Failed));
    expect((await t.deltas()).requester).toBe(q.feeLimit + q.verifierFee);
    expect(await stakeOf(node)).toEqual({ stake: STAKE - q.declinePenalty - q.timeoutPenalty, locked: 0n });
    expect(await stakeOf(node2)).toEqual({ stake: STAKE - q.rejectPenalty - q.declinePenalty, locked: 0n });
    expect(await admin.core.totalBurned()).toBe(q.declinePenalty * 2n + q.rejectPenalty + q.timeoutPenalty);
  });

  it('maxRetries = 0: the first decline fails the SubJob', async () => {
    await mined(admin.core.setParameter(ChainParameter.MaxRetries, 0));
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    await mined(node.core.decline(jobId, 0));
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Failed));
  });

  it('an Open SubJob past the job deadline is timed out without penalty and refunded; processing it is refused', async () => {
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);
    const t = await trackBalances(h, { requester: requester.address });
    const jobId = await newJob({ deadlineIn: 600n });
    await expectRevert(verifier.core.timeout(jobId, 0), 'NotOverdue');
    await h.increaseTime(601);
    await expectRevert(node.core.process(jobId, 0), 'JobExpired');
    await mined(verifier.core.timeout(jobId, 0));
    expect(await t.deltas()).toEqual({ requester: 0n });
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Failed));
    expect(await admin.core.totalBurned()).toBe(0n);
    expect(q.feeLimit).toBeGreaterThan(0n);
  });

  it('a SubJob processed close to the job deadline gets the job deadline, and is not re-offered after it', async () => {
    const jobId = await newJob({ deadlineIn: 600n });
    await mined(node.core.process(jobId, 0));
    const j = await job(jobId);
    expect((await sub(jobId)).deadline).toBe(j.deadline);
    await h.increaseTime(601);
    await mined(verifier.core.timeout(jobId, 0));
    expect((await sub(jobId)).status).toBe(BigInt(SubJobStatus.Failed));
  });
});

describe('SubJobs share the parent escrow in proportion to shard size', () => {
  it('shards 1:2:3 — verified, failed, verified — settle exactly and leave no escrow', async () => {
    const fuelLimit = 1_000_003n;
    const fuelPrice = 7n * GHOLON + 1n;
    const sizes = [1n, 2n, 3n];
    const q = quote(fuelLimit, fuelPrice, 0n);
    const shares = splitShares(fuelLimit, q.verifierFee, sizes);
    const t = await trackBalances(h, {
      requester: requester.address,
      node: node.address,
      node2: node2.address,
      verifier: verifier.address,
      core: h.deployment.core,
    });
    await mined(admin.core.setParameter(ChainParameter.MaxRetries, 0));
    const jobId = await newJob({ fuelLimit, fuelPrice, shards: sizes });
    for (let i = 0; i < 3; i++) {
      const s = await sub(jobId, i);
      expect([s.fuelLimit, s.verifierFee]).toEqual([shares.fuelLimits[i], shares.verifierFees[i]]);
    }
    const used0 = shares.fuelLimits[0]! / 2n;
    const used2 = shares.fuelLimits[2]!;
    await mined(node.core.process(jobId, 0));
    await mined(node2.core.process(jobId, 1));
    await mined(node.core.process(jobId, 2));
    const lockedNode = (await stakeOf(node)).locked;
    expect(lockedNode).toBe(
      nodeDepositOf(shares.fuelLimits[0]! * fuelPrice, shares.verifierFees[0]!) +
        nodeDepositOf(shares.fuelLimits[2]! * fuelPrice, shares.verifierFees[2]!),
    );
    await mined(node.core.submit(jobId, 0, id32('a'), used0));
    await mined(node2.core.decline(jobId, 1));
    await mined(node.core.submit(jobId, 2, id32('c'), used2));
    expect((await job(jobId)).status).toBe(BigInt(JobStatus.Split));
    await mined(verifier.core.verify(jobId, 0));
    await mined(verifier.core.verify(jobId, 2));
    const fee1 = shares.fuelLimits[1]! * fuelPrice;
    const deposit1 = nodeDepositOf(fee1, shares.verifierFees[1]!);
    const penalty1 = penaltyOf('decline', fee1, deposit1);
    expect(await t.deltas()).toEqual({
      requester: -(used0 + used2) * fuelPrice - shares.verifierFees[0]! - shares.verifierFees[2]!,
      node: (used0 + used2) * fuelPrice,
      node2: 0n,
      verifier: shares.verifierFees[0]! + shares.verifierFees[2]!,
      core: -penalty1,
    });
    const j = await job(jobId);
    expect([j.status, j.escrow, j.verifiedCount, j.failedCount]).toEqual([
      BigInt(JobStatus.Finished),
      0n,
      2n,
      1n,
    ]);
  });

  it('registerSubJobs is for the L1 server only, once, on a Requested job, with non-zero shards', async () => {
    const jobId = await newJob({ shards: null });
    const role = await admin.core.L1_SERVER_ROLE();
    await expectRevert(outsider.core.registerSubJobs(jobId, [1n]), 'AccessControlUnauthorizedAccount', [
      outsider.address,
      role,
    ]);
    await expectRevert(server.core.registerSubJobs(jobId, []), 'InvalidShards');
    await expectRevert(server.core.registerSubJobs(jobId, [1n, 0n]), 'ZeroShare', [1n]);
    await mined(server.core.registerSubJobs(jobId, [5n]));
    await expectRevert(server.core.registerSubJobs(jobId, [5n]), 'InvalidJobStatus', [
      jobId,
      BigInt(JobStatus.Split),
    ]);
    await expectRevert(node.core.process(jobId, 1), 'UnknownSubJob', [jobId, 1n]);
  });

  it('a shard too small to get any fuel is refused (ZeroShare)', async () => {
    const jobId = await newJob({ fuelLimit: 2n, shards: null });
    await expectRevert(server.core.registerSubJobs(jobId, [1n, 1000n]), 'ZeroShare', [0n]);
  });
});

describe('rules that guard the flow', () => {
  it('submit with fuelUsed > fuelLimit reverts FuelUsedExceedsLimit', async () => {
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    await expectRevert(node.core.submit(jobId, 0, id32('r'), PAPER_FUEL_LIMIT + 1n), 'FuelUsedExceedsLimit', [
      PAPER_FUEL_LIMIT + 1n,
      PAPER_FUEL_LIMIT,
    ]);
  });

  it('verify and reject by a non-verifier revert AccessControlUnauthorizedAccount (timeout: see deadline exits)', async () => {
    const role = await admin.core.VERIFIER_ROLE();
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    await mined(node.core.submit(jobId, 0, id32('r'), 1n));
    for (const fn of ['verify', 'reject'] as const) {
      await expectRevert(node.core[fn](jobId, 0), 'AccessControlUnauthorizedAccount', [node.address, role]);
      await expectRevert(requester.core[fn](jobId, 0), 'AccessControlUnauthorizedAccount', [
        requester.address,
        role,
      ]);
    }
  });

  it('a second process of the same SubJob is refused; an unregistered node cannot process', async () => {
    const jobId = await newJob();
    await expectRevert(outsider.core.process(jobId, 0), 'NodeNotRegistered', [outsider.address]);
    await mined(node.core.process(jobId, 0));
    await expectRevert(node2.core.process(jobId, 0), 'InvalidSubJobStatus', [
      jobId,
      0n,
      BigInt(SubJobStatus.Processing),
    ]);
  });

  it('a node without enough free stake cannot process (InsufficientFreeStake)', async () => {
    const big = 10_000_000n; // feeLimit = 10M × 120 Gholon = 1.2 EMETH... scaled up below
    const jobId = await newJob({ fuelLimit: big, fuelPrice: 10n * GHOLON * 1000n });
    const q = quote(big, 10n * GHOLON * 1000n, 0n);
    await expectRevert(node.core.process(jobId, 0), 'InsufficientFreeStake', [
      node.address,
      q.nodeDeposit,
      STAKE,
    ]);
  });

  it('request validates program, price, fuel and deadline, and refuses a reused jobId', async () => {
    const now = await h.now();
    const jobId = id32('fixed');
    await expectRevert(requester.core.request(jobId, 99, 1n, 1n, now + 100n, id32('d')), 'UnknownProgram', [
      99n,
    ]);
    await expectRevert(requester.core.request(jobId, 1, 0n, 1n, now + 100n, id32('d')), 'ZeroAmount');
    await expectRevert(requester.core.request(jobId, 1, 1n, 1n, now - 1n, id32('d')), 'InvalidDeadline');
    await mined(admin.core.updateProgram(2, 21, 5n * GHOLON, true));
    await expectRevert(
      requester.core.request(jobId, 2, 1n, GHOLON, now + 100n, id32('d')),
      'FuelPriceTooLow',
      [GHOLON, 5n * GHOLON],
    );
    await mined(admin.core.updateProgram(3, 31, 0n, false));
    await expectRevert(requester.core.request(jobId, 3, 1n, 1n, now + 100n, id32('d')), 'ProgramInactive', [
      3n,
    ]);
    await mined(requester.core.request(jobId, 1, 1n, 1n, now + 100n, id32('d')));
    await expectRevert(requester.core.request(jobId, 1, 1n, 1n, now + 100n, id32('d')), 'JobExists', [jobId]);
  });

  it('programs: registered with their sub-program; only governance may register', async () => {
    const p = await admin.core.getProgram(1);
    expect([p.subProgramId, p.active, p.exists]).toEqual([11n, true, true]);
    expect((await admin.core.getProgram(2)).subProgramId).toBe(21n);
    expect((await admin.core.getProgram(3)).subProgramId).toBe(31n);
    await expectRevert(admin.core.registerProgram(1, 11, 0, true), 'ProgramExists', [1n]);
    await expectRevert(outsider.core.registerProgram(7, 71, 0, true), 'AccessControlUnauthorizedAccount');
    await expectRevert(admin.core.updateProgram(7, 71, 0, true), 'UnknownProgram', [7n]);
  });

  it('pause stops new work; unpause resumes it', async () => {
    await mined(admin.core.pause());
    await expectRevert(
      requester.core.request(id32('p'), 1, 1n, 1n, (await h.now()) + 100n, id32('d')),
      'EnforcedPause',
    );
    await expectRevert(requester.core.deposit(1n), 'EnforcedPause');
    await expectRevert(outsider.core.pause(), 'AccessControlUnauthorizedAccount');
    await mined(admin.core.unpause());
    await mined(requester.core.request(id32('p'), 1, 1n, 1n, (await h.now()) + 100n, id32('d')));
  });
});

describe('parameters', () => {
  it('setParameter emits ParameterChanged and the new rates apply to new jobs', async () => {
    const tx = await admin.core.setParameter(ChainParameter.VerifierFeeRate, 1_000);
    const receipt = await tx.wait();
    const log = receipt!.logs
      .map((l) => admin.core.interface.parseLog(l))
      .find((l) => l?.name === 'ParameterChanged');
    expect([...log!.args]).toEqual([BigInt(ChainParameter.VerifierFeeRate), 500n, 1_000n]);
    const jobId = await newJob({ shards: null });
    expect((await job(jobId)).verifierFee).toBe((PAPER_FUEL_LIMIT * PAPER_FUEL_PRICE) / 10n);
  });

  it('refuses rates above 100%, maxRetries above 255 and a withdrawal delay not longer than the signer interval', async () => {
    await expectRevert(
      admin.core.setParameter(ChainParameter.RejectPenaltyRate, 10_001),
      'InvalidParameter',
      [BigInt(ChainParameter.RejectPenaltyRate), 10_001n],
    );
    await expectRevert(admin.core.setParameter(ChainParameter.MaxRetries, 256), 'InvalidParameter');
    await expectRevert(admin.core.setParameter(ChainParameter.WithdrawalDelay, 60), 'InvalidParameter', [
      BigInt(ChainParameter.WithdrawalDelay),
      60n,
    ]);
    await expectRevert(admin.core.setParameter(ChainParameter.SignerInterval, 3600), 'InvalidParameter');
    await expectRevert(
      outsider.core.setParameter(ChainParameter.DepositRate, 1),
      'AccessControlUnauthorizedAccount',
    );
  });

  it('a penalty is capped by the deposit when the deposit rate is low', async () => {
    await mined(admin.core.setParameter(ChainParameter.DepositRate, 0));
    await mined(admin.core.setParameter(ChainParameter.DeclinePenaltyRate, 10_000));
    const q = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n, {
      verifierFeeRate: 500n,
      depositRate: 0n,
      declinePenaltyRate: 10_000n,
      timeoutPenaltyRate: 2_500n,
      rejectPenaltyRate: 2_500n,
    });
    expect(q.declinePenalty).toBe(q.verifierFee);
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    await mined(node.core.decline(jobId, 0));
    expect(await stakeOf(node)).toEqual({ stake: STAKE - q.verifierFee, locked: 0n });
  });
});

describe('staking', () => {
  it('register, add stake, request unstake, wait the cooldown, unstake', async () => {
    const n3 = h.actor('node3');
    await expectRevert(n3.core.registerNode(EMETH - 1n, id32('k'), 1), 'StakeTooLow', [EMETH - 1n, EMETH]);
    const t = await trackBalances(h, { n3: n3.address });
    await mined(n3.core.registerNode(10n * EMETH, id32('k'), 1));
    await expectRevert(n3.core.registerNode(10n * EMETH, id32('k'), 1), 'NodeAlreadyRegistered', [
      n3.address,
    ]);
    await mined(n3.core.addStake(5n * EMETH));
    const n = await n3.core.getNode(n3.address);
    expect([n.stake, n.capabilityClass, n.encryptionKey]).toEqual([15n * EMETH, 1n, id32('k')]);
    await mined(n3.core.updateNode(id32('k2'), 2));
    expect((await n3.core.getNode(n3.address)).capabilityClass).toBe(2n);
    await expectRevert(n3.core.unstake(), 'NothingUnstaking', [n3.address]);
    await mined(n3.core.requestUnstake(15n * EMETH));
    await expectRevert(n3.core.unstake(), 'UnstakeNotReady');
    await h.increaseTime(86_400);
    await mined(n3.core.unstake());
    expect(await t.deltas()).toEqual({ n3: 0n });
    const after = await n3.core.getNode(n3.address);
    expect([after.stake, after.unstaking]).toEqual([0n, 0n]);
  });

  it('locked stake cannot be unstaked, and stake being unstaked cannot be locked', async () => {
    const jobId = await newJob();
    await mined(node.core.process(jobId, 0));
    const { locked } = await stakeOf(node);
    await expectRevert(node.core.requestUnstake(STAKE), 'InsufficientFreeStake', [
      node.address,
      STAKE,
      STAKE - locked,
    ]);
    await mined(node.core.requestUnstake(STAKE - locked));
    const job2 = await newJob();
    await expectRevert(node.core.process(job2, 0), 'InsufficientFreeStake', [node.address, locked, 0n]);
    // The penalty still reaches the locked part of the stake.
    await mined(node.core.decline(jobId, 0));
    expect(await stakeOf(node)).toEqual({
      stake: locked - quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n).declinePenalty,
      locked: 0n,
    });
  });
});

describe('requestFor: a signed Request relayed by someone else, escrowed from the deposit', () => {
  const DEPOSIT = 100n * EMETH;
  async function signed(overrides: Partial<L1Request> = {}, by: Actor = requester) {
    const r: L1Request = {
      requester: requester.address,
      jobId: id32(`relayed-${++seq}`),
      programId: 1,
      fuelLimit: PAPER_FUEL_LIMIT,
      fuelPrice: PAPER_FUEL_PRICE,
      deadline: (await h.now()) + 86_400n,
      dataset: id32('dataset'),
      ...overrides,
    };
    const signature = await signL1Request(by.wallet, emethDomain(h.deployment.chainId, h.deployment.core), r);
    return { r, signature };
  }

  it('moves exactly the escrow from the requester’s free deposit; the relayer pays nothing but gas', async () => {
    await mined(requester.core.deposit(DEPOSIT));
    const t = await trackBalances(h, {
      requester: requester.address,
      server: server.address,
      core: h.deployment.core,
    });
    const { r, signature } = await signed();
    const escrow = quote(PAPER_FUEL_LIMIT, PAPER_FUEL_PRICE, 0n);
    const total = escrow.feeLimit + escrow.verifierFee;
    const tx = await server.core.requestFor(r, signature);
    const receipt = await tx.wait();
    expect(await t.deltas()).toEqual({ requester: 0n, server: 0n, core: 0n });
    expect((await requester.core.getDeposit(requester.address)).balance).toBe(DEPOSIT - total);
    const j = await job(r.jobId);
    expect([j.requester, j.status, j.escrow]).toEqual([
      requester.address,
      BigInt(JobStatus.Requested),
      total,
    ]);
    const names = receipt!.logs.map((l) => requester.core.interface.parseLog(l)?.name);
    expect(names).toEqual(expect.arrayContaining(['JobRequested', 'DepositEscrowed']));
  });

  it('refuses a Request signed by anyone but its requester, a replay, and an escrow above the free deposit', async () => {
    await mined(requester.core.deposit(DEPOSIT));
    const forged = await signed({}, outsider);
    await expectRevert(server.core.requestFor(forged.r, forged.signature), 'InvalidRequestSignature', [
      requester.address,
      outsider.address,
    ]);
    // The signature covers every field: a relayer that raises the price breaks it.
    const honest = await signed();
    await expectRevert(
      server.core.requestFor({ ...honest.r, fuelPrice: honest.r.fuelPrice * 2n }, honest.signature),
      'InvalidRequestSignature',
    );
    await mined(server.core.requestFor(honest.r, honest.signature));
    await expectRevert(server.core.requestFor(honest.r, honest.signature), 'JobExists', [honest.r.jobId]);
    // A pending withdrawal is not free: racing one against a Request cannot escrow it twice.
    const left = (await requester.core.getDeposit(requester.address)).balance;
    await mined(requester.core.requestWithdrawal(left));
    const late = await signed();
    await expectRevert(server.core.requestFor(late.r, late.signature), 'InsufficientFreeDeposit');
  });
});
