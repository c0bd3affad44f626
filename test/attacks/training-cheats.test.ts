import fs from 'node:fs';
import { EMETH, GHOLON } from '../../lib/fees';
import { encodeMatrix } from '../../lib/matrix';
import { FEDAVG_TRAIN_SPEC } from '../../lib/programs';
import { fineOf } from '../../lib/verification-policy';
import { syntheticClassification } from '../../examples/classification';
import { buildTrainStepModel, initialParams, paramCount } from '../../examples/train-models';
import { encodeModel } from '../../activities/programs/fedavg-format';
import { fedAvgFuel } from '../../activities/programs/fedavg-train';
import type { JobView } from '../../cli/job-status';
import { TestPipeline, type TestNode } from '../support/pipeline';

// The training cheats of workers/node/drills.ts against a real stack (Temporal, PostgreSQL, anvil,
// the L2 server, nodes, the verifier and the requester's keyholder as real processes). A new node
// is on probation, so the keyholder opens each of its CKKS-encrypted updates for the verifier,
// which re-executes it: each lie is rejected, the program's fine burned from the node's stake, and
// the SubJob redone by an honest node, so the training still completes.
jest.setTimeout(600_000);

const policy = FEDAVG_TRAIN_SPEC.verification;
const DIMS = { features: 20, classes: 4 };
const LOCAL = { localSteps: 3, learningRate: '0.1', batchSize: 0 };
let p: TestPipeline;
let publicKey: string;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
  publicKey = (await p.startKeyholder()).publicKey;
});
afterAll(() => p?.stop());

/** One shard of 400 rows per epoch, so every SubJob of the Job goes to the one node of its class. */
async function submitTraining(opts: {
  capabilityClass: string;
  numEpoch: number;
  seed: string;
  clipNorm?: number;
}): Promise<JobView> {
  const set = syntheticClassification({ rows: 400, testRows: 100, seed: opts.seed });
  const [dataset, graph, initial] = await Promise.all([
    p.gateway.putBlob(encodeMatrix(set.train)),
    p.gateway.putBlob(buildTrainStepModel('softmax', DIMS)),
    p.gateway.putBlob(encodeModel(initialParams('softmax', DIMS))),
  ]);
  const fuel = BigInt(fedAvgFuel(set.train.rows, LOCAL, paramCount('softmax', DIMS), 10n ** 30n).required);
  return p.gateway.submitJob<JobView>(
    {
      programId: 2,
      dataset: dataset.id,
      trainGraph: graph.id,
      publicKey,
      initialModel: initial.id,
      numEpoch: opts.numEpoch,
      numParallel: 1,
      ...LOCAL,
      ...(opts.clipNorm !== undefined ? { clipNorm: opts.clipNorm } : {}),
      // Room for each epoch's SubJob and its re-run.
      fuelLimit: (fuel * 2n * BigInt(opts.numEpoch)).toString(),
      fuelPrice: (120n * GHOLON).toString(),
      deadlineSeconds: 1800,
      capabilityClass: opts.capabilityClass,
    },
    p.chain.deployment.core,
  );
}

const feeLimitOf = (s: {
  fuelLimit: { toFixed(d: number): string };
  job: { fuelPrice: { toFixed(d: number): string } };
}) => BigInt(s.fuelLimit.toFixed(0)) * BigInt(s.job.fuelPrice.toFixed(0));

/**
 * The cheater's one lie on the Job was rejected for `reason`, fined once, earned no ticket, and
 * was redone by `honest`; its `honestAnswers` other attempts were verified. Returns the fine.
 */
async function expectCaughtOnce(
  jobId: string,
  cheater: TestNode,
  honest: TestNode,
  reason: RegExp,
  honestAnswers = 0,
): Promise<bigint> {
  const attempts = await p.db.prisma.attempt.findMany({
    where: { nodeId: cheater.address, subJob: { jobId } },
    include: { subJob: { include: { job: true } } },
  });
  expect(attempts.map((a) => a.outcome).sort()).toEqual(
    ['rejected', ...Array<string>(honestAnswers).fill('verified')].sort(),
  );
  const lie = attempts.find((a) => a.outcome === 'rejected')!;
  expect(lie.reason).toMatch(reason);
  const fine = fineOf(policy, feeLimitOf(lie.subJob));
  expect(fine).toBeGreaterThan(0n);
  expect(BigInt(lie.penalty!.toFixed(0))).toBe(fine);
  // No ticket for the lie; the SubJob's ticket is the honest node's, for its verified re-run.
  const paidTo = (await p.db.prisma.ticket.findMany({ where: { subJobId: lie.subJobId, role: 'node' } })).map(
    (t) => t.node,
  );
  expect(paidTo).toEqual([honest.address]);
  const sub = await p.db.prisma.subJob.findUniqueOrThrow({ where: { id: lie.subJobId } });
  expect([sub.status, sub.nodeId]).toEqual(['verified', honest.address]);
  const redo = await p.db.prisma.attempt.findFirstOrThrow({
    where: { subJobId: lie.subJobId, attempt: lie.attempt + 1 },
  });
  expect([redo.nodeId, redo.outcome]).toEqual([honest.address, 'verified']);
  return fine;
}

/** The drill's own account of its answers (workers/node/drills.ts logs one line per SubJob). */
const drillLines = (node: TestNode, msg: 'drill: cheated' | 'drill: answered honestly') =>
  fs.readFileSync(node.logFile, 'utf8').split(`"msg":"${msg}"`).length - 1;

it('scaled (the honest update × 10 under encryption) on a Job with clipNorm: opened, over the norm bound, rejected, fined, redone', async () => {
  const cls = 'scaled-drill';
  const cheater = await p.startNode({ behaviour: 'scaled', capabilityClass: cls, args: ['--scale', '10'] });
  const stake = await p.stakeOf(cheater.address);
  const burned = await p.totalBurned();
  // Well below the honest update's norm, so the honest nodes clip too (and still verify).
  const job = await submitTraining({ capabilityClass: cls, numEpoch: 1, seed: 'scaled', clipNorm: 0.05 });
  await p.waitForAttempt(job.id, 'rejected', 300_000);
  const honest = await p.startNode({ capabilityClass: cls });
  const done = await p.waitForEnd(job.id, 420_000);
  expect(done.status).toBe('completed');
  expect((await p.attemptsOf(job.id)).map((a) => [a.nodeId, a.outcome])).toEqual([
    [cheater.address, 'rejected'],
    [honest.address, 'verified'],
  ]);
  const fine = await expectCaughtOnce(
    job.id,
    cheater,
    honest,
    /L2 norm [0-9.e-]+ exceeds the bound [0-9.e-]+ \(clipNorm 0\.05\)/,
  );
  expect(await p.stakeOf(cheater.address)).toBe(stake - fine);
  expect(await p.totalBurned()).toBe(burned + fine);
  expect(drillLines(cheater, 'drill: cheated')).toBe(1);
  // The honest re-run was clipped: its update, before encryption, had exactly the Job's clipNorm.
  const trained = fs
    .readFileSync(honest.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"local training done, update encrypted"'))
    .map((l) => JSON.parse(l) as { jobId: string; clipNorm?: number; norm?: number });
  expect(trained.filter((t) => t.jobId === job.id)).toEqual([
    expect.objectContaining({ clipNorm: 0.05, norm: expect.closeTo(0.05, 9) as number }),
  ]);
});

it('stale (trains epoch 1 from the epoch-0 model): honest on epoch 0, its stale update rejected, fined, redone', async () => {
  const cls = 'stale-drill';
  const cheater = await p.startNode({ behaviour: 'stale', capabilityClass: cls });
  const stake = await p.stakeOf(cheater.address);
  const burned = await p.totalBurned();
  // Two epochs: the drill has an earlier model to train from only once the Job hands it a second one.
  const job = await submitTraining({ capabilityClass: cls, numEpoch: 2, seed: 'stale' });
  await p.waitForAttempt(job.id, 'rejected', 420_000);
  const honest = await p.startNode({ capabilityClass: cls });
  const done = await p.waitForEnd(job.id, 420_000);
  expect(done.status).toBe('completed');
  const subs = await p.db.prisma.subJob.findMany({ where: { jobId: job.id }, orderBy: { epoch: 'asc' } });
  expect(subs.map((s) => [s.epoch, s.status, s.nodeId])).toEqual([
    [0, 'verified', cheater.address],
    [1, 'verified', honest.address],
  ]);
  const fine = await expectCaughtOnce(job.id, cheater, honest, /differ beyond tolerance/, 1);
  const lie = await p.db.prisma.attempt.findFirstOrThrow({
    where: { nodeId: cheater.address, outcome: 'rejected', subJob: { jobId: job.id } },
  });
  expect(lie.subJobId).toBe(subs[1]!.id);
  expect(await p.stakeOf(cheater.address)).toBe(stake - fine);
  expect(await p.totalBurned()).toBe(burned + fine);
  expect([drillLines(cheater, 'drill: answered honestly'), drillLines(cheater, 'drill: cheated')]).toEqual([
    1, 1,
  ]);
});
