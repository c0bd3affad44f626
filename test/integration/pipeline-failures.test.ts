import { EMETH } from '../../lib/fees';
import { big } from '../../prisma/ledger';
import { EmethJobId, EmethStatus } from '../../lib/search-attributes';
import { NODE_FUNDING, TestPipeline } from '../support/pipeline';

// Failure paths of DESIGN §7 against real processes: each ends with the work done or the money returned.
jest.setTimeout(240_000);

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
});
afterAll(() => p?.stop());

it('no node online is a visible state, and the Job completes when a node arrives', async () => {
  const { job } = await p.submit({ rows: 300, numParallel: 2, capabilityClass: 'late' });
  await p.waitForJob(
    job.id,
    (j) => j.subJobs.length === 2 && j.subJobs.every((s) => s.status === 'waiting-for-node'),
  );
  // The same state is searchable in Temporal (the SubJob workflows carry it as EmethStatus).
  const query = `${EmethJobId.name}='${job.id}' AND ${EmethStatus.name}='waiting-for-node'`;
  let visible = 0;
  for (let i = 0; i < 20 && visible < 2; i++) {
    visible = 0;
    for await (const w of p.temporal.workflow.list({ query })) if (w.workflowId) visible += 1;
    if (visible < 2) await new Promise((r) => setTimeout(r, 250)); // visibility is eventually consistent
  }
  expect(visible).toBe(2);
  await p.startNode({ capabilityClass: 'late' });
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('completed');
});

it('a shard altered on its way to the node fails AES-256-GCM there; the SubJob is re-offered and the Job completes', async () => {
  // The tampering node is alone in its class, so the first offer goes to it.
  const tamperer = await p.startNode({ behaviour: 'tamper-shard', capabilityClass: 'tamper-shard-drill' });
  const { job } = await p.submit({ rows: 200, numParallel: 1, capabilityClass: 'tamper-shard-drill' });
  await p.waitForAttempt(job.id, 'declined');
  const honest = await p.startNode({ capabilityClass: 'tamper-shard-drill' });
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('completed');
  const attempts = await p.attemptsOf(job.id);
  expect(attempts.map((a) => [a.nodeId, a.outcome])).toEqual([
    [tamperer.address, 'declined'],
    [honest.address, 'verified'],
  ]);
  expect(attempts[0]!.reason).toMatch(
    /cannot open its input: blob [0-9a-f]{64} failed authentication \(AES-256-GCM\)/,
  );
});

it('a node killed mid-SubJob is penalised once; the SubJob is re-offered; nobody is paid twice', async () => {
  const doomed = await p.startNode({ behaviour: 'slow', slowMs: 120_000, capabilityClass: 'crash-drill' });
  const stake = await p.stakeOf(doomed.address);
  const supply = await p.totalSupply();
  const burned = await p.totalBurned();
  const { job } = await p.submit({ rows: 300, numParallel: 1, capabilityClass: 'crash-drill' });
  await p.waitForJob(job.id, (j) => j.subJobs[0]?.status === 'running');
  await doomed.process.stop('SIGKILL');
  const rescuer = await p.startNode({ capabilityClass: 'crash-drill' });
  const rescuerBefore = await p.balanceOf(rescuer.address);
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('completed');

  const attempts = await p.attemptsOf(job.id);
  expect(attempts.map((a) => [a.nodeId, a.outcome])).toEqual([
    [doomed.address, 'timeout'],
    [rescuer.address, 'verified'],
  ]);
  const penalty = big(attempts[0]!.penalty);
  expect(penalty).toBeGreaterThan(0n);
  expect(await p.stakeOf(doomed.address)).toBe(stake - penalty);
  expect(await p.totalBurned()).toBe(burned + penalty);
  expect(await p.totalSupply()).toBe(supply - penalty + NODE_FUNDING); // the rescuer's funding was minted meanwhile

  // The rescuer's ticket and the verifier's fee ticket for the same SubJob: the doomed node has none.
  const tickets = await p.db.prisma.ticket.findMany({ where: { jobId: job.id }, orderBy: { role: 'asc' } });
  expect(tickets.map((t) => [t.role, t.node])).toEqual([
    ['node', rescuer.address],
    ['verifier', rescuer.address],
  ]);
  await p.waitForRedemptions(job.id);
  expect((await p.balanceOf(rescuer.address)) - rescuerBefore).toBe(big(tickets[0]!.amount));
});

it('cancel before processing releases everything', async () => {
  const requester = await p.requester.getAddress();
  const deposit = await p.depositOf(requester);
  const { job } = await p.submit({ rows: 300, numParallel: 2, capabilityClass: 'nobody' });
  await p.waitForJob(
    job.id,
    (j) => j.subJobs.length === 2 && j.subJobs.every((s) => s.status === 'waiting-for-node'),
  );
  await p.gateway.request('POST', `/v1/jobs/${job.id}/cancel`);
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('cancelled');
  expect(done.fees.charged).toBe('0');
  expect(done.fees.refunded).toBe(done.fees.reserved);
  expect(done.subJobs.map((s) => s.status)).toEqual(['cancelled', 'cancelled']);
  expect(await p.db.prisma.ticket.count({ where: { jobId: job.id } })).toBe(0);
  expect(await p.depositOf(requester)).toBe(deposit);
});

it('cancel during processing stops pending work, pays the verified SubJob, releases the rest', async () => {
  // A slow node takes both offers: the one it cannot pick up times out (one penalty), then a fast
  // node verifies it while the slow node still holds the other; then the requester cancels.
  const slow = await p.startNode({ behaviour: 'slow', slowMs: 120_000, capabilityClass: 'cancel-drill' });
  const slowStake = await p.stakeOf(slow.address);
  const { job } = await p.submit({ rows: 300, numParallel: 2, capabilityClass: 'cancel-drill' });
  await p.waitForAttempt(job.id, 'timeout');
  await p.startNode({ capabilityClass: 'cancel-drill' });
  await p.waitForJob(job.id, (j) => j.subJobs.some((s) => s.status === 'verified'));
  await p.gateway.request('POST', `/v1/jobs/${job.id}/cancel`);
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('cancelled');
  expect(done.subJobs.map((s) => s.status).sort()).toEqual(['cancelled', 'verified']);

  // The verified SubJob's two tickets (its node's and its verifier's), nothing for the cancelled one.
  const tickets = await p.db.prisma.ticket.findMany({ where: { jobId: job.id } });
  expect(tickets.map((t) => t.role).sort()).toEqual(['node', 'verifier']);
  expect(new Set(tickets.map((t) => t.subJobId)).size).toBe(1);
  const charged = tickets.reduce((a, t) => a + big(t.amount) + big(t.verifierFee), 0n);
  expect(BigInt(done.fees.charged)).toBe(charged);
  expect(BigInt(done.fees.refunded)).toBe(BigInt(done.fees.reserved) - charged);
  // The slow node paid for the offer it never picked up, not for the one cancelled under it.
  const slowAttempts = await p.db.prisma.attempt.findMany({
    where: { nodeId: slow.address, subJob: { jobId: job.id } },
  });
  expect(slowAttempts.map((a) => a.outcome).sort()).toEqual(['cancelled', 'timeout']);
  const penalty = big(slowAttempts.find((a) => a.outcome === 'timeout')!.penalty);
  expect(big(slowAttempts.find((a) => a.outcome === 'cancelled')!.penalty)).toBe(0n);
  expect(await p.stakeOf(slow.address)).toBe(slowStake - penalty);
});

it('a deadline that passes with no node fails the Job and refunds it in full', async () => {
  const { job } = await p.submit({
    rows: 300,
    numParallel: 2,
    capabilityClass: 'nobody-in-time',
    deadlineSeconds: 4,
  });
  const done = await p.waitForEnd(job.id, 60_000);
  expect(done.status).toBe('failed');
  expect(done.subJobs.map((s) => s.status)).toEqual(['failed', 'failed']);
  expect(done.fees.charged).toBe('0');
  expect(done.fees.refunded).toBe(done.fees.reserved);
});
