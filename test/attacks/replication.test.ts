import { decodeMatrix, maxAbsDiff } from '../../lib/matrix';
import { EMETH } from '../../lib/fees';
import { ONNX_INFERENCE_SPEC } from '../../lib/programs';
import { fineOf } from '../../lib/verification-policy';
import { localRun } from '../support/local-run';
import { TestPipeline } from '../support/pipeline';

// Replication with commit–reveal (issue 12 item 1) against a real stack: a replicated SubJob runs
// on two nodes at once, each commits to its signed result before either is asked to reveal. Twins
// that agree bit for bit are both paid and the verifier re-executes nothing; a copycat, which has
// no twin's answer to copy before it must commit, commits zeros, is caught by the full re-execution
// their disagreement triggers, and pays its fine, half of it to its honest twin.
jest.setTimeout(420_000);

const policy = ONNX_INFERENCE_SPEC.verification;
let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
});
afterAll(() => p?.stop());

const big = (d: { toFixed(n: number): string }) => BigInt(d.toFixed(0));

it('two honest replicas agree: both verified and paid for their run, the verifier re-executes no row', async () => {
  const cls = 'replica-honest';
  const [a, b] = [await p.startNode({ capabilityClass: cls }), await p.startNode({ capabilityClass: cls })];
  const { job, modelBytes, datasetBytes, fuelPrice } = await p.submit({
    rows: 100,
    numParallel: 1,
    capabilityClass: cls,
    replicate: true,
  });
  const done = await p.waitForEnd(job.id, 300_000);
  expect(done.status).toBe('completed');
  const result = decodeMatrix(await p.gateway.getBlob(done.result!));
  expect(maxAbsDiff(result, await localRun(modelBytes, datasetBytes))).toBeLessThanOrEqual(1e-5);

  const attempts = await p.attemptsOf(job.id);
  expect(attempts.map((x) => x.outcome)).toEqual(['verified', 'verified']);
  expect(new Set(attempts.map((x) => x.nodeId))).toEqual(new Set([a.address, b.address]));
  const checks = await p.db.prisma.verification.findMany({ where: { subJobId: attempts[0]!.subJobId } });
  expect(checks.map((c) => [c.valid, c.rowsChecked])).toEqual([
    [true, 0],
    [true, 0],
  ]);
  const sub = await p.db.prisma.subJob.findUniqueOrThrow({ where: { id: attempts[0]!.subJobId } });
  const tickets = await p.db.prisma.ticket.findMany({ where: { subJobId: sub.id } });
  const byRole = Object.fromEntries(tickets.map((t) => [t.role, t]));
  const other = sub.nodeId === a.address ? b.address : a.address;
  expect([byRole.node!.node, byRole.replica!.node]).toEqual([sub.nodeId, other]);
  // Each run is paid its verified fuel; the two together stay within the Job's fuelLimit.
  expect(big(byRole.node!.amount)).toBe(big(sub.fuelUsed!) * fuelPrice);
  expect(big(byRole.replica!.amount)).toBe(big(sub.fuelUsed!) * fuelPrice);
  const row = await p.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
  expect(2n * big(sub.fuelLimit)).toBeLessThanOrEqual(big(row.fuelLimit));
});

it('copycat: it commits zeros, the disagreement re-executes both, it is fined and its honest twin is paid half', async () => {
  const cls = 'replica-copycat';
  const copycat = await p.startNode({ capabilityClass: cls, behaviour: 'copycat' });
  const honest = await p.startNode({ capabilityClass: cls });
  const [copycatStake, honestStake] = [await p.stakeOf(copycat.address), await p.stakeOf(honest.address)];
  const { job } = await p.submit({ rows: 100, numParallel: 1, capabilityClass: cls, replicate: true });
  const done = await p.waitForEnd(job.id, 300_000);
  expect(done.status).toBe('completed');

  const attempts = await p.db.prisma.attempt.findMany({
    where: { subJob: { jobId: job.id } },
    include: { subJob: { include: { job: true } } },
    orderBy: { attempt: 'asc' },
  });
  const byNode = Object.fromEntries(attempts.map((x) => [x.nodeId, x]));
  expect(byNode[copycat.address]).toMatchObject({ outcome: 'rejected' });
  expect(byNode[honest.address]).toMatchObject({ outcome: 'verified' });
  const a = byNode[copycat.address]!;
  const fine = fineOf(policy, big(a.subJob.fuelLimit) * big(a.subJob.job.fuelPrice));
  expect(big(a.penalty!)).toBe(fine);
  expect(await p.stakeOf(copycat.address)).toBe(copycatStake - fine);
  expect(await p.stakeOf(honest.address)).toBe(honestStake + fine / 2n);
  // Both results re-executed in full (the copycat's rejected, the twin's recorded); the output is the twin's.
  expect(a.reason).toMatch(/differ beyond tolerance/);
  const checks = await p.db.prisma.verification.findMany({ where: { subJobId: a.subJobId } });
  expect(checks.map((c) => [c.valid, c.rowsChecked])).toEqual([[true, 100]]);
  const sub = await p.db.prisma.subJob.findUniqueOrThrow({ where: { id: a.subJobId } });
  expect(sub.nodeId).toBe(honest.address);
  expect(await p.db.prisma.ticket.count({ where: { jobId: job.id, node: copycat.address } })).toBe(0);
});
