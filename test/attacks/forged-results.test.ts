import { decodeMatrix, maxAbsDiff } from '../../lib/matrix';
import { EMETH } from '../../lib/fees';
import { localRun } from '../support/local-run';
import { TestPipeline } from '../support/pipeline';
import type { NodeBehaviour } from '../../workers/node/drills';

// A node with a valid registration and stake answers for an assignment it was not given. Real
// Temporal, PostgreSQL, anvil; the L2 server, nodes and verifier as real processes.
jest.setTimeout(240_000);

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
});
afterAll(() => p?.stop());


describe.each<[NodeBehaviour, string, RegExp]>([
  ['forge-sibling', 'a sibling SubJob', /no answer: the result names subJobId/],
  ['forge-attempt', 'another attempt of its own SubJob', /no answer: the result names attempt/],
])('a node that submits a result for %s', (behaviour, what, reason) => {
  it(`(${what}) is refused as no answer; no honest node pays; every SubJob keeps its own output`, async () => {
    const cls = `${behaviour}-drill`;
    const forger = await p.startNode({ behaviour, capabilityClass: cls });
    const { job, modelBytes, datasetBytes } = await p.submit({
      rows: 200,
      numParallel: 2,
      capabilityClass: cls,
    });
    await p.waitForAttempt(job.id, 'timeout');
    const honest = await p.startNode({ capabilityClass: cls });
    const honestStake = await p.stakeOf(honest.address);
    const done = await p.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    // The result is the honest computation, row for row: no SubJob's output was overwritten.
    const result = decodeMatrix(await p.gateway.getBlob(done.result!));
    expect(maxAbsDiff(result, await localRun(modelBytes, datasetBytes))).toBe(0);

    const forged = await p.db.prisma.attempt.findMany({ where: { nodeId: forger.address } });
    expect(forged.length).toBeGreaterThan(0);
    for (const a of forged) {
      expect(a.outcome).toBe('timeout');
      expect(a.reason).toMatch(reason);
      expect(BigInt(a.penalty!.toFixed(0))).toBeGreaterThan(0n); // the assigned node's silence is paid
    }
    expect(await p.db.prisma.result.count({ where: { nodeId: forger.address } })).toBe(0);
    expect(await p.db.prisma.ticket.count({ where: { node: forger.address } })).toBe(0);
    const subs = await p.db.prisma.subJob.findMany({ where: { jobId: job.id } });
    expect(subs.every((s) => s.nodeId === honest.address && s.status === 'verified')).toBe(true);
    expect(await p.stakeOf(honest.address)).toBe(honestStake);
    expect(
      await p.db.prisma.attempt.count({ where: { nodeId: honest.address, penalty: { not: null } } }),
    ).toBe(0);
  });
});

it('a node that blames the input for a failure the verifier cannot reproduce pays as for a timeout', async () => {
  const liar = await p.startNode({ behaviour: 'fake-failure', capabilityClass: 'fake-failure-drill' });
  const stake = await p.stakeOf(liar.address);
  const { job } = await p.submit({ rows: 100, numParallel: 1, capabilityClass: 'fake-failure-drill' });
  await p.waitForAttempt(job.id, 'timeout');
  await p.startNode({ capabilityClass: 'fake-failure-drill' });
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('completed');
  const [first] = await p.db.prisma.attempt.findMany({ where: { nodeId: liar.address } });
  expect(first!.outcome).toBe('timeout');
  expect(first!.reason).toMatch(/where the verifier's re-run succeeded/);
  const penalty = BigInt(first!.penalty!.toFixed(0));
  expect(penalty).toBeGreaterThan(0n);
  expect(await p.stakeOf(liar.address)).toBe(stake - penalty);
});
