import fs from 'node:fs';
import path from 'node:path';
import { NonceManager, Wallet } from 'ethers';
import { decodeMatrix, maxAbsDiff } from '../../lib/matrix';
import { EMETH } from '../../lib/fees';
import { ONNX_INFERENCE_SPEC, ProgramId } from '../../lib/programs';
import { fineOf } from '../../lib/verification-policy';
import { emethCore, emethToken } from '../../contracts/typed';
import { GatewayClient } from '../../cli/gateway-client';
import { reputationOf } from '../../activities/verification/reputation';
import { localRun } from '../support/local-run';
import { TestPipeline, type Submitted, type TestNode } from '../support/pipeline';

// Each cheating strategy of workers/node/drills.ts against a real stack: Temporal, PostgreSQL,
// anvil, the L2 server, nodes and the verifier as real processes. Each is caught on its first lie:
// the attempt rejected, the program's fine burned from its stake, no ticket for it, and the SubJob
// redone by an honest node with the correct result.
jest.setTimeout(300_000);

const policy = ONNX_INFERENCE_SPEC.verification;
/** SubJobs of onnx-inference carry its SubJob program id: reputation is counted by it. */
const PROGRAM = ProgramId.ONNX_INFERENCE_SUBJOB;
let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
});
afterAll(() => p?.stop());

/** The pipeline as another requester: its gateway client signs the uploads, the Jobs, their Commits and reads. */
const asRequester = (gateway: GatewayClient): TestPipeline =>
  Object.assign(Object.create(p) as TestPipeline, { gateway });

const feeLimitOf = (s: {
  fuelLimit: { toFixed(d: number): string };
  job: { fuelPrice: { toFixed(d: number): string } };
}) => BigInt(s.fuelLimit.toFixed(0)) * BigInt(s.job.fuelPrice.toFixed(0));

/**
 * The cheater's first attempt on the Job is rejected; an honest node of the same class then redoes
 * it. Checks the fine, the missing ticket, the re-run's node and the result against a local run.
 */
async function expectCaught(cheater: TestNode, submitted: Submitted, capabilityClass: string): Promise<void> {
  const { job, modelBytes, datasetBytes } = submitted;
  const stake = await p.stakeOf(cheater.address);
  const burned = await p.totalBurned();
  await p.waitForAttempt(job.id, 'rejected');
  const honest = await p.startNode({ capabilityClass });
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('completed');
  const result = decodeMatrix(await p.gateway.getBlob(done.result!));
  expect(maxAbsDiff(result, await localRun(modelBytes, datasetBytes))).toBeLessThanOrEqual(1e-5);

  const attempts = await p.db.prisma.attempt.findMany({
    where: { nodeId: cheater.address, subJob: { jobId: job.id } },
    include: { subJob: { include: { job: true } } },
  });
  expect(attempts.length).toBeGreaterThan(0);
  let fines = 0n;
  for (const a of attempts) {
    expect([a.outcome, a.reason]).toEqual(['rejected', expect.stringMatching(/differ beyond tolerance/)]);
    // The fine of lib/verification-policy for this SubJob's fee limit, burned once.
    const fine = fineOf(policy, feeLimitOf(a.subJob));
    expect(BigInt(a.penalty!.toFixed(0))).toBe(fine);
    fines += fine;
    // The rejected attempt earns no ticket; the SubJob's ticket is the honest node's, for its verified re-run.
    const paidTo = (await p.db.prisma.ticket.findMany({ where: { subJobId: a.subJobId } })).map(
      (t) => t.node,
    );
    expect(paidTo).toContain(honest.address);
    expect(paidTo).not.toContain(cheater.address);
    const sub = await p.db.prisma.subJob.findUniqueOrThrow({ where: { id: a.subJobId } });
    expect([sub.status, sub.nodeId]).toEqual(['verified', honest.address]);
    const redo = await p.db.prisma.attempt.findFirstOrThrow({
      where: { subJobId: a.subJobId, attempt: a.attempt + 1 },
    });
    expect([redo.nodeId, redo.outcome]).toEqual([honest.address, 'verified']);
  }
  expect(await p.db.prisma.ticket.count({ where: { jobId: job.id, node: cheater.address } })).toBe(0);
  expect(await p.stakeOf(cheater.address)).toBe(stake - fines);
  expect(await p.totalBurned()).toBe(burned + fines);
}

describe('a cheating node is caught on its first lie', () => {
  it('lazy (zeros of the right shape, full fuel claimed): rejected, fined, redone', async () => {
    const cheater = await p.startNode({ behaviour: 'lazy', capabilityClass: 'lazy-drill' });
    const submitted = await p.submit({ rows: 100, numParallel: 1, capabilityClass: 'lazy-drill' });
    await expectCaught(cheater, submitted, 'lazy-drill');
  });

  it('partial (one wrong row of 100) on a node on probation: every row is checked, so it is caught', async () => {
    const cheater = await p.startNode({
      behaviour: 'partial',
      capabilityClass: 'partial-drill',
      args: ['--corrupt-rows', '1'],
    });
    expect(await reputationOf(p.db.prisma, cheater.address, PROGRAM)).toBe(0);
    const submitted = await p.submit({ rows: 100, numParallel: 1, capabilityClass: 'partial-drill' });
    await expectCaught(cheater, submitted, 'partial-drill');
    const plan = checksPlanned().find((c) => c.nodeId === cheater.address);
    expect(plan).toMatchObject({ why: 'probation', sampleRate: 1 });
  });

  it('farmer: honest on its own Jobs earns no reputation, so its first lazy SubJob is checked in full and caught', async () => {
    const cls = 'farmer-drill';
    const farmer = await p.startNode({
      behaviour: 'farmer',
      capabilityClass: cls,
      args: ['--honest-first', '2'],
    });
    // The farmer is its own requester: it deposits and submits with its own key.
    const own = new NonceManager(new Wallet(farmer.wallet.privateKey, p.chain.provider));
    const token = emethToken(p.chain.deployment.token, own);
    await (await token.approve(p.chain.deployment.core, 10n * EMETH)).wait();
    await (await emethCore(p.chain.deployment.core, own).deposit(10n * EMETH)).wait();
    const gateway = new GatewayClient(p.config.gateway.url, own, p.chain.deployment.chainId);
    const self = asRequester(gateway);
    // One SubJob per Job: a node takes one at a time, and a second queued behind it could miss the pickup timeout.
    for (let i = 0; i < 2; i++) {
      const farmed = await self.submit({ rows: 100, numParallel: 1, capabilityClass: cls });
      expect((await self.waitForEnd(farmed.job.id)).status).toBe('completed');
    }
    const verified = await p.db.prisma.attempt.count({
      where: { nodeId: farmer.address, outcome: 'verified' },
    });
    expect(verified).toBe(2);
    expect(await reputationOf(p.db.prisma, farmer.address, PROGRAM)).toBe(0);

    const submitted = await p.submit({ rows: 100, numParallel: 1, capabilityClass: cls });
    await expectCaught(farmer, submitted, cls);
    const plan = checksPlanned().find((c) => c.nodeId === farmer.address && c.jobId === submitted.job.id);
    expect(plan).toMatchObject({ why: 'probation', sampleRate: 1, reputation: 0 });
    const log = fs.readFileSync(farmer.logFile, 'utf8');
    expect(log.match(/"msg":"drill: answered honestly"/g)).toHaveLength(2);
    expect(log).toContain('"msg":"drill: cheated"');
  });
});

it('a node’s reputation survives a restart of the L2 (it is read from the attempt rows)', async () => {
  const cls = 'reputation';
  const node = await p.startNode({ capabilityClass: cls });
  for (let i = 0; i < 3; i++) {
    const { job } = await p.submit({ rows: 50, numParallel: 1, capabilityClass: cls });
    expect((await p.waitForEnd(job.id)).status).toBe('completed');
  }
  const before = await reputationOf(p.db.prisma, node.address, PROGRAM);
  expect(before).toBe(3);

  const restarted = Date.now();
  await p.restartL2();
  expect(await reputationOf(p.db.prisma, node.address, PROGRAM)).toBe(before);
  // The node reconnects to the restarted L2's edge with its channel's backoff (once over two
  // minutes on a loaded machine, and a SubJob offered meanwhile times out on it, a penalty that
  // moves the reputation under test): submit once it polls again.
  await p.waitForPolling(node.address, restarted);
  // The restarted L2 plans the node's next check from the same reputation.
  const next = await p.submit({ rows: 50, numParallel: 1, capabilityClass: cls });
  const end = await p.waitForEnd(next.job.id, 300_000);
  // The SubJobs' states and attempts are printed when it did not complete.
  expect({ status: end.status, subJobs: end.subJobs }).toMatchObject({ status: 'completed' });
  const plan = checksPlanned().find((c) => c.jobId === next.job.id);
  expect(plan).toMatchObject({ nodeId: node.address, reputation: before });
  expect(await reputationOf(p.db.prisma, node.address, PROGRAM)).toBe(before + 1);
}, 600_000);

interface CheckPlanned {
  jobId: string;
  subJobId: string;
  nodeId: string;
  reputation: number;
  why: string;
  sampleRate: number;
}

/** The L2's "check planned" log lines (activities/verification), oldest first. */
function checksPlanned(): CheckPlanned[] {
  return fs
    .readFileSync(path.join(p.home, 'l2.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"check planned"'))
    .map((l) => JSON.parse(l) as CheckPlanned & { nodeId: string })
    .map((c) => ({ ...c, nodeId: c.nodeId.toLowerCase() }));
}
