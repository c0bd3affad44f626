/**
 * L1 Jobs end to end (paper 7-2): submitted through the gateway with `layer: "l1"` and the
 * requester's signed Request, carried by the same Job and SubJob workflows as L2 Jobs, every step
 * on EmethCore by the party the paper names — the L2 relays the Request (escrow out of the
 * requester's deposit) and registers the SubJobs, each node `process`es and `submit`s with its own
 * key, a verifier `verify`s — and every step's event and transaction in the Job's view. Money to
 * the holon. Then a node that takes a SubJob on chain and never submits: the verifier times it out
 * on chain at EmethCore's processing deadline, its penalty is burned, and an honest node finishes
 * the SubJob; a node whose result is wrong is rejected on chain by the verifier that caught it; a
 * staked stranger that takes an Open SubJob on chain unasked holds up nobody but itself: the
 * assigned node is refused there, the stranger is timed out and fined, and the assigned node
 * finishes. Real Temporal, database and anvil; the L2 server, nodes and verifier as processes.
 */
import { NonceManager, Wallet } from 'ethers';
import { EMETH } from '../../lib/fees';
import { sealingKeysOf } from '../../lib/envelope';
import { ensureStake } from '../../workers/shared/stake';
import { NODE_FUNDING } from '../support/pipeline';
import { buildBatchTrapModel } from '../../examples/models';
import { ChainParameter } from '../../lib/types-chain';
import { emethCore } from '../../contracts/typed';
import { TestPipeline, type TestNode } from '../support/pipeline';
import type { JobView } from '../../cli/job-status';

jest.setTimeout(400_000);

/** EmethCore's processing window in this suite: a stalled node is timed out after it. */
const PROCESSING_S = 20;

let p: TestPipeline;
let honest: TestNode[];

type Step = NonNullable<JobView['chainSteps']>[number];
/** A SubJob whose first holder was timed out on chain and fined, then re-offered and done by another. */
const TIMED_OUT_THEN_VERIFIED = [
  'SubJobOffered',
  'SubJobProcessing',
  'PenaltyBurned',
  'SubJobTimedOut',
  'SubJobOffered',
  'SubJobProcessing',
  'SubJobSubmitted',
  'SubJobVerified',
];
/** Until the Job's view shows `event` on chain (a test's cue to let the next party in). */
const untilChainEvent = (jobId: string, event: string) =>
  p.waitForJob(jobId, (j) => (j.chainSteps ?? []).some((s) => s.event === event), 120_000);
const eventsOf = (steps: Step[], index: number | null) =>
  steps.filter((s) => s.subJobIndex === index).map((s) => s.event);

beforeAll(async () => {
  p = await TestPipeline.start();
  const core = emethCore(p.chain.deployment.core, p.chain.deployer);
  await (await core.setParameter(ChainParameter.ProcessingTimeLimit, PROCESSING_S)).wait();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
  honest = await Promise.all([p.startNode(), p.startNode()]);
});
afterAll(() => p?.stop());

describe('an L1 Job through the gateway', () => {
  it('runs every SubJob on EmethCore, each step with its transaction in the view, and moves the money to the holon', async () => {
    const requester = (await p.requester.getAddress()).toLowerCase();
    const depositBefore = await p.depositOf(requester);
    const walletBefore = await p.balanceOf(requester);
    const nodesBefore = await Promise.all(honest.map((n) => p.balanceOf(n.address)));

    const { job, fuelPrice } = await p.submit({ layer: 'l1', rows: 600, numParallel: 3 });
    expect(job.layer).toBe('l1');
    const final = await p.waitForEnd(job.id, 240_000);
    expect(final.status).toBe('completed');
    expect(final.subJobs.map((s) => s.status)).toEqual(['verified', 'verified', 'verified']);

    const view = await p.getJob(job.id);
    const steps = view.chainSteps!;
    // The Job's own events, then per SubJob offered → processing → submitted → verified.
    expect(eventsOf(steps, null)).toEqual([
      'JobRequested',
      'DepositEscrowed',
      'SubJobsRegistered',
      'JobFinished',
    ]);
    for (const s of view.subJobs) {
      expect(eventsOf(steps, s.index)).toEqual([
        'SubJobOffered',
        'SubJobProcessing',
        'SubJobSubmitted',
        'SubJobVerified',
      ]);
      // The node that processed and submitted is the SubJob's node of record, with its own key.
      const byNode = steps.filter((x) => x.subJobIndex === s.index && x.event !== 'SubJobOffered');
      expect(byNode.slice(0, 2).map((x) => x.actor)).toEqual([s.nodeId, s.nodeId]);
    }
    for (const s of steps) {
      const receipt = await p.chain.provider.getTransactionReceipt(s.txHash);
      expect(receipt?.status).toBe(1);
      expect(receipt?.blockNumber).toBe(s.blockNumber);
    }

    // Money: the escrow left the deposit; the chain paid nodes fuel × price, the verifier its fee
    // shares, and refunded the unused fuel to the requester's wallet; nothing stays in escrow.
    const escrow = BigInt(view.fees.feeLimit) + BigInt(view.fees.verifierFee);
    expect(await p.depositOf(requester)).toBe(depositBefore - escrow);
    const chainJob = await p.core().getJob(job.id);
    expect(chainJob.escrow).toBe(0n);
    const verified = steps.filter((s) => s.event === 'SubJobVerified');
    const payouts = new Map<string, bigint>();
    let paid = 0n;
    for (const v of verified) {
      const sub = await p.core().getSubJob(job.id, v.subJobIndex!);
      const payout = sub.fuelUsed * fuelPrice;
      payouts.set(sub.node.toLowerCase(), (payouts.get(sub.node.toLowerCase()) ?? 0n) + payout);
      paid += payout + sub.verifierFee;
    }
    for (const [i, n] of honest.entries())
      expect(await p.balanceOf(n.address)).toBe(nodesBefore[i]! + (payouts.get(n.address) ?? 0n));
    expect(await p.balanceOf(requester)).toBe(walletBefore + escrow - paid);
    expect(BigInt(view.fees.charged)).toBe(paid);
    expect(BigInt(view.fees.refunded)).toBe(escrow - paid);
    // No tickets: an L1 Job is paid on chain, never through the Signer.
    expect(await p.db.prisma.ticket.count({ where: { jobId: job.id } })).toBe(0);
  });
});

describe('an L1 node timeout on chain', () => {
  it('a node that takes a SubJob and never submits is timed out at the processing deadline, fined, and an honest node finishes', async () => {
    const staller = await p.startNode({ behaviour: 'slow', slowMs: 10 * 60_000, capabilityClass: 'l1-slow' });
    const burnedBefore = await p.totalBurned();
    const stakeBefore = await p.stakeOf(staller.address);
    // Only the staller serves this class at first; the honest node joins once it has taken the SubJob.
    const { job } = await p.submit({ layer: 'l1', rows: 300, numParallel: 1, capabilityClass: 'l1-slow' });
    await untilChainEvent(job.id, 'SubJobProcessing');
    const rescuer = await p.startNode({ capabilityClass: 'l1-slow' });

    const final = await p.waitForEnd(job.id, 240_000);
    expect(final.status).toBe('completed');
    const steps = (await p.getJob(job.id)).chainSteps!;
    expect(eventsOf(steps, 0)).toEqual(TIMED_OUT_THEN_VERIFIED);
    const timedOut = steps.find((s) => s.event === 'SubJobTimedOut')!;
    const burned = steps.find((s) => s.event === 'PenaltyBurned')!;
    expect([timedOut.actor, burned.actor]).toEqual([staller.address, staller.address]);
    expect(steps.filter((s) => s.event === 'SubJobSubmitted').map((s) => s.actor)).toEqual([rescuer.address]);
    // Burned on chain exactly once, from the staller's stake, at EmethCore's timeout rate.
    expect(await p.totalBurned()).toBe(burnedBefore + BigInt(burned.amount!));
    expect(await p.stakeOf(staller.address)).toBe(stakeBefore - BigInt(burned.amount!));
    const attempts = await p.attemptsOf(job.id);
    expect(attempts.map((a) => [a.nodeId, a.outcome, a.penalty?.toFixed(0) ?? null])).toEqual([
      [staller.address, 'timeout', burned.amount],
      [rescuer.address, 'verified', null],
    ]);
  });
});

describe('liars and thieves on chain', () => {
  it("a node's wrong result is rejected on chain by the verifier, its penalty burned, and an honest node finishes", async () => {
    const liar = await p.startNode({ behaviour: 'lie', capabilityClass: 'l1-lie' });
    const burnedBefore = await p.totalBurned();
    const { job } = await p.submit({ layer: 'l1', rows: 300, numParallel: 1, capabilityClass: 'l1-lie' });
    await untilChainEvent(job.id, 'SubJobSubmitted');
    const rescuer = await p.startNode({ capabilityClass: 'l1-lie' });
    const final = await p.waitForEnd(job.id, 240_000);
    expect(final.status).toBe('completed');
    const steps = (await p.getJob(job.id)).chainSteps!;
    expect(eventsOf(steps, 0)).toEqual([
      'SubJobOffered',
      'SubJobProcessing',
      'SubJobSubmitted',
      'PenaltyBurned',
      'SubJobRejected',
      'SubJobOffered',
      'SubJobProcessing',
      'SubJobSubmitted',
      'SubJobVerified',
    ]);
    const burned = steps.find((s) => s.event === 'PenaltyBurned')!;
    expect(burned.actor).toBe(liar.address);
    expect(await p.totalBurned()).toBe(burnedBefore + BigInt(burned.amount!));
    // The liar is paid nothing; the rescuer is paid its fuel.
    const sub = await p.core().getSubJob(job.id, 0);
    expect(sub.node.toLowerCase()).toBe(rescuer.address);
    expect(steps.filter((s) => s.event === 'SubJobVerified').map((s) => s.actor)).toEqual([rescuer.address]);
  });

  it('a stranger that takes an Open SubJob on chain unasked is timed out and fined; the assigned node is not blamed and finishes', async () => {
    // A staked node the L2 never assigns (its worker is not running): it calls process itself.
    const thief = Wallet.createRandom().connect(p.chain.provider);
    await p.chain.provider.send('anvil_setBalance', [thief.address, '0x56BC75E2D63100000']);
    await p.mint(thief.address, NODE_FUNDING);
    const thiefSigner = new NonceManager(thief);
    await ensureStake(
      thiefSigner,
      p.chain.deployment,
      100n * EMETH,
      'l1-thief',
      sealingKeysOf(thief.privateKey).x25519.publicKey,
    );
    const stakeBefore = await p.stakeOf(thief.address);

    // No node of the class is online: the SubJob waits Open on chain, where the thief takes it.
    const { job } = await p.submit({ layer: 'l1', rows: 300, numParallel: 1, capabilityClass: 'l1-thief' });
    await untilChainEvent(job.id, 'SubJobOffered');
    await (await emethCore(p.chain.deployment.core, thiefSigner).process(job.id, 0)).wait();
    const assigned = await p.startNode({ capabilityClass: 'l1-thief' });

    const final = await p.waitForEnd(job.id, 240_000);
    expect(final.status).toBe('completed');
    const steps = (await p.getJob(job.id)).chainSteps!;
    const thiefAddress = thief.address.toLowerCase();
    expect(eventsOf(steps, 0)).toEqual(TIMED_OUT_THEN_VERIFIED);
    const processing = steps.filter((s) => s.event === 'SubJobProcessing').map((s) => s.actor);
    expect(processing).toEqual([thiefAddress, assigned.address]);
    const burned = steps.find((s) => s.event === 'PenaltyBurned')!;
    expect(burned.actor).toBe(thiefAddress);
    expect(await p.stakeOf(thief.address)).toBe(stakeBefore - BigInt(burned.amount!));
    // The assigned node was refused on chain, not fined, and asked again.
    const attempts = await p.attemptsOf(job.id);
    expect(attempts.map((a) => [a.nodeId, a.outcome, a.penalty?.toFixed(0) ?? null])).toEqual([
      [assigned.address, 'timeout', null],
      [assigned.address, 'verified', null],
    ]);
  });
});

describe("the requester's input at fault on L1", () => {
  it('a program that fails on every executor: each node reports it on chain, the verifier closes it with no fine, the fuel is refunded', async () => {
    const nodes = [
      await p.startNode({ capabilityClass: 'l1-trap' }),
      await p.startNode({ capabilityClass: 'l1-trap' }),
    ];
    const stakes = await Promise.all(nodes.map((n) => p.stakeOf(n.address)));
    const burned = await p.totalBurned();
    const requester = (await p.requester.getAddress()).toLowerCase();
    const walletBefore = await p.balanceOf(requester);
    const { job } = await p.submit({
      layer: 'l1',
      rows: 100, // shards of 50 rows do not reshape to [1, 32]; the one row inspected at submit does
      numParallel: 2,
      capabilityClass: 'l1-trap',
      model: buildBatchTrapModel(32),
    });
    const done = await p.waitForEnd(job.id, 240_000);
    expect(done.status).toBe('failed');
    const view = await p.getJob(job.id);
    const steps = view.chainSteps!;
    for (const s of view.subJobs) {
      expect(eventsOf(steps, s.index)).toEqual([
        'SubJobOffered',
        'SubJobProcessing',
        'SubJobSubmitted',
        'SubJobVerified',
      ]);
      // The failure report: fuel 0, so the node is paid nothing and the SubJob's fuel goes back.
      expect((await p.core().getSubJob(job.id, s.index)).fuelUsed).toBe(0n);
    }
    const attempts = await p.attemptsOf(job.id);
    expect(attempts.map((a) => [a.outcome, a.penalty])).toEqual(attempts.map(() => ['input-fault', null]));
    expect(await p.totalBurned()).toBe(burned);
    for (const [i, n] of nodes.entries()) expect(await p.stakeOf(n.address)).toBe(stakes[i]);
    // The requester pays only the verifier's fee shares, for the re-runs that proved its input at fault.
    const fees = (await Promise.all(view.subJobs.map((s) => p.core().getSubJob(job.id, s.index)))).reduce(
      (a, s) => a + s.verifierFee,
      0n,
    );
    const escrow = BigInt(view.fees.feeLimit) + BigInt(view.fees.verifierFee);
    expect(BigInt(view.fees.charged)).toBe(fees);
    expect(await p.balanceOf(requester)).toBe(walletBefore + escrow - fees);
    expect((await p.core().getJob(job.id)).escrow).toBe(0n);
  });
});
