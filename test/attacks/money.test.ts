import { Wallet } from 'ethers';
import { EMETH } from '../../lib/fees';
import { TestPipeline } from '../support/pipeline';

// A requester that races its own deposit, a node that tries to leave with its stake mid-assignment.
// Real Temporal, PostgreSQL, anvil; the L2 server, nodes and verifier as real processes.
jest.setTimeout(240_000);

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
});
afterAll(() => p?.stop());

const big = (d: { toFixed(n: number): string } | null | undefined) => (d ? BigInt(d.toFixed(0)) : 0n);

async function advanceChain(seconds: bigint): Promise<void> {
  await p.chain.provider.send('evm_increaseTime', [Number(seconds)]);
  await p.chain.provider.send('evm_mine', []);
}

it('a withdrawal requested mid-Job pays only what was not committed, and every verified ticket still redeems', async () => {
  const requester = p.requester;
  const address = (await requester.getAddress()).toLowerCase();
  const core = p.core().connect(requester);
  await p.startNode({ capabilityClass: 'race' });
  const before = await p.core().getDeposit(address);
  // The slow node holds the Job open while the requester tries to walk away with the deposit.
  await p.startNode({ behaviour: 'slow', slowMs: 4_000, capabilityClass: 'race' });
  const { job } = await p.submit({ rows: 300, numParallel: 3, capabilityClass: 'race' });
  await p.waitForJob(job.id, (j) => j.status === 'running');
  const commitment = await p.core().getCommitment(address, job.id);
  expect(commitment.amount).toBeGreaterThan(0n);

  // Everything not committed, and not a holon more: asking for the committed part is refused.
  const free = await p.core().freeDeposit(address);
  expect(free).toBe(before.balance - commitment.amount);
  await expect(core.requestWithdrawal.staticCall(free + 1n)).rejects.toThrow(
    /InsufficientFreeDeposit|reverted/,
  );
  await (await core.requestWithdrawal(free)).wait();
  await advanceChain((await p.core().withdrawalDelay()) + 3600n);
  const wallet = await p.balanceOf(address);
  await (await core.withdraw()).wait();
  expect((await p.balanceOf(address)) - wallet).toBe(free);

  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('completed');
  const tickets = await p.db.prisma.ticket.findMany({ where: { jobId: job.id } });
  expect(tickets).toHaveLength(6); // per SubJob, its node's and its verifier's
  await p.waitForRedemptions(job.id);
  // What the Job charged came out of its commitment; the rest of the deposit is what was left.
  const charged = tickets.reduce((a, t) => a + big(t.amount) + big(t.verifierFee), 0n);
  const after = await p.core().getDeposit(address);
  expect(after.balance).toBe(before.balance - free - charged);
  expect(after.committed).toBe(0n);
});

it('a node that requests unstake mid-assignment cannot take the locked stake, and still pays its penalty', async () => {
  await p.deposit(20n * EMETH); // the first test withdrew everything it could
  const doomed = await p.startNode({ behaviour: 'slow', slowMs: 120_000, capabilityClass: 'leaver' });
  const stake = await p.stakeOf(doomed.address);
  const burned = await p.totalBurned();
  const { job } = await p.submit({ rows: 300, numParallel: 1, capabilityClass: 'leaver' });
  await p.waitForJob(job.id, (j) => j.subJobs[0]?.status === 'running');
  const asNode = p.core().connect(new Wallet(doomed.wallet.privateKey, p.chain.provider));
  const locked = (await p.core().getNode(doomed.address)).locked;
  expect(locked).toBeGreaterThan(0n);
  // The whole stake is refused; all but the attempt's lock is allowed.
  await expect(asNode.requestUnstake.staticCall(stake)).rejects.toThrow(/InsufficientFreeStake|reverted/);
  await (await asNode.requestUnstake(stake - locked)).wait();

  await doomed.process.stop('SIGKILL');
  await p.startNode({ capabilityClass: 'leaver' });
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('completed');
  const [attempt] = await p.db.prisma.attempt.findMany({ where: { nodeId: doomed.address } });
  expect(attempt!.outcome).toBe('timeout');
  const penalty = big(attempt!.penalty);
  expect(penalty).toBeGreaterThan(0n);
  expect(penalty).toBeLessThanOrEqual(locked);
  expect(await p.totalBurned()).toBe(burned + penalty);
  const node = await p.core().getNode(doomed.address);
  expect(node.locked).toBe(0n);
  expect(node.stake).toBe(locked - penalty);
});
