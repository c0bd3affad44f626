import fs from 'node:fs';
import path from 'node:path';
import { EMETH, GHOLON } from '../../lib/fees';
import { encodeMatrix } from '../../lib/matrix';
import { splitRows } from '../../lib/programs';
import { syntheticClassification } from '../../examples/classification';
import { buildTrainStepModel, initialParams, paramCount } from '../../examples/train-models';
import { encodeModel } from '../../activities/programs/fedavg-format';
import { fedAvgFuel } from '../../activities/programs/fedavg-train';
import type { JobView } from '../../cli/job-status';
import { TestPipeline } from '../support/pipeline';
import { storageFilesContaining } from '../support/confidentiality';
import { runCli } from '../support/process';
import { DEV_ROLES, devKey } from '../../lib/dev-accounts';
import { computeStats, decodeStats } from '../../activities/programs/encrypted-stats';

// Federated training through the real pipeline: nodes encrypt their updates with the requester's
// CKKS key, the L2 sums ciphertexts, only the keyholder process decrypts; epochs continue as new.
jest.setTimeout(300_000);

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
  await Promise.all([p.startNode(), p.startNode()]);
});
afterAll(() => p?.stop());

it('trains over 3 epochs with the secret key only at the keyholder, accuracy rising, and settles', async () => {
  const keyholder = await p.startKeyholder();
  const dims = { features: 20, classes: 4 };
  const local = { localSteps: 5, learningRate: '0.1', batchSize: 0 };
  const set = syntheticClassification({ rows: 1200, testRows: 400 });
  const [dataset, testSet, graph, initial] = await Promise.all([
    p.gateway.putBlob(encodeMatrix(set.train)),
    p.gateway.putBlob(encodeMatrix(set.test)),
    p.gateway.putBlob(buildTrainStepModel('softmax', dims)),
    p.gateway.putBlob(encodeModel(initialParams('softmax', dims))),
  ]);
  const perEpoch = splitRows(set.train.rows, 2).reduce(
    (a, r) =>
      a + BigInt(fedAvgFuel(r.rowEnd - r.rowStart, local, paramCount('softmax', dims), 10n ** 30n).required),
    0n,
  );
  const job = await p.gateway.submitJob<JobView>(
    {
      programId: 2,
      dataset: dataset.id,
      trainGraph: graph.id,
      publicKey: keyholder.publicKey,
      initialModel: initial.id,
      testSet: testSet.id,
      numEpoch: 3,
      numParallel: 2,
      ...local,
      fuelLimit: (perEpoch * 3n * 2n).toString(),
      fuelPrice: (120n * GHOLON).toString(),
      deadlineSeconds: 600,
    },
    p.chain.deployment.core,
  );
  const done = await p.waitForEnd(job.id, 240_000);
  expect(done.status).toBe('completed');

  const { checkpoints } = await p.gateway.request<{
    checkpoints: { epoch: number; model: string; accuracy: number }[];
  }>('GET', `/v1/jobs/${job.id}/checkpoints`);
  expect(checkpoints.map((c) => c.epoch)).toEqual([0, 1, 2]);
  expect(checkpoints[2]!.accuracy).toBeGreaterThan(checkpoints[0]!.accuracy);
  expect(done.result).toBe(checkpoints[2]!.model);

  // Six SubJobs (2 shards × 3 epochs), each verified and paid once; the rest refunded.
  const subs = await p.db.prisma.subJob.findMany({ where: { jobId: job.id } });
  expect(subs.map((s) => [s.epoch, s.status]).sort()).toEqual([
    [0, 'verified'],
    [0, 'verified'],
    [1, 'verified'],
    [1, 'verified'],
    [2, 'verified'],
    [2, 'verified'],
  ]);
  expect(await p.db.prisma.ticket.count({ where: { jobId: job.id, role: 'node' } })).toBe(6);
  expect(await p.db.prisma.ticket.count({ where: { jobId: job.id, role: 'verifier' } })).toBe(6);
  // New nodes are fully checked: the verifier recomputed their updates and compared the values the
  // keyholder decrypted (a shape-only check would report 0 rows).
  const verdicts = await p.db.prisma.verification.findMany({
    where: { subJobId: { in: subs.map((s) => s.id) } },
  });
  expect(verdicts.length).toBe(6);
  expect(verdicts.filter((v) => v.rowsChecked > 0).length).toBeGreaterThanOrEqual(1);
  for (const v of verdicts.filter((x) => x.rowsChecked > 0)) expect(v.maxDiff).toBeLessThan(1e-3);
  expect(BigInt(done.fees.charged) + BigInt(done.fees.refunded)).toBe(BigInt(done.fees.reserved));

  // The epochs ran as separate workflow runs (continue-as-new), so no history grows per epoch.
  const handle = p.temporal.workflow.getHandle(job.workflowId);
  const runs: string[] = [];
  for await (const w of p.temporal.workflow.list({ query: `WorkflowId='${job.workflowId}'` }))
    runs.push(w.runId);
  expect(runs.length).toBe(3);
  // The Job's row reads completed a step before its workflow returns: wait for the return.
  await handle.result();
  expect((await handle.describe()).status.name).toBe('COMPLETED');

  // The CKKS secret key exists in the keyholder's directory and nowhere else in this deployment.
  const secret = fs.readFileSync(path.join(keyholder.dir, 'ckks-secret.key'));
  expect(secret.length).toBeGreaterThan(1000);
  expect((fs.statSync(path.join(keyholder.dir, 'ckks-secret.key')).mode & 0o777).toString(8)).toBe('600');
  const needle = secret.subarray(secret.length - 64);
  const stored = storageFilesContaining(p.config.l2.storageDir, [Buffer.from(needle)]);
  expect(stored.files).toBeGreaterThan(10);
  expect(stored.hits).toEqual([]);
});

it('a tampered encrypted update is rejected, the SubJob re-offered, and the training completes', async () => {
  // Reuses the keyholder and blobs of a fresh Job: one tampering node alone in its class first.
  const keyholder = await p.startKeyholder();
  const tamperer = await p.startNode({ behaviour: 'lie', capabilityClass: 'tamper-drill' });
  const dims = { features: 20, classes: 4 };
  const local = { localSteps: 3, learningRate: '0.1', batchSize: 0 };
  const set = syntheticClassification({ rows: 400, testRows: 200, seed: 'tamper' });
  const [dataset, graph, initial] = await Promise.all([
    p.gateway.putBlob(encodeMatrix(set.train)),
    p.gateway.putBlob(buildTrainStepModel('softmax', dims)),
    p.gateway.putBlob(encodeModel(initialParams('softmax', dims))),
  ]);
  const fuel = BigInt(fedAvgFuel(set.train.rows, local, paramCount('softmax', dims), 10n ** 30n).required);
  const job = await p.gateway.submitJob<JobView>(
    {
      programId: 2,
      dataset: dataset.id,
      trainGraph: graph.id,
      publicKey: keyholder.publicKey,
      initialModel: initial.id,
      numEpoch: 1,
      numParallel: 1,
      ...local,
      fuelLimit: (fuel * 2n).toString(),
      fuelPrice: (120n * GHOLON).toString(),
      deadlineSeconds: 600,
      capabilityClass: 'tamper-drill',
    },
    p.chain.deployment.core,
  );
  await p.waitForAttempt(job.id, 'rejected');
  const honest = await p.startNode({ capabilityClass: 'tamper-drill' });
  const done = await p.waitForEnd(job.id, 120_000);
  expect(done.status).toBe('completed');
  const attempts = await p.attemptsOf(job.id);
  expect(attempts.map((a) => [a.nodeId, a.outcome])).toEqual([
    [tamperer.address, 'rejected'],
    [honest.address, 'verified'],
  ]);
  expect(attempts[0]!.reason).toMatch(/corrupt|digest|tamper|integrity|ciphertext|hash/i);
});

it('an encrypted-stats Job through the gateway: sums, means and histograms summed under CKKS, opened only with the requester key', async () => {
  const keyholder = await p.startKeyholder();
  const rows = 600;
  const cols = 4;
  // Column c holds values in [0, 10 + c): known sums, means and histograms.
  const data = Float32Array.from(
    { length: rows * cols },
    (_, i) => ((i * 7919) % 1000) / 100 + (i % cols) * 0.25,
  );
  const dataset = await p.gateway.putBlob(encodeMatrix({ rows, cols, data }));
  const params = { bins: 5, min: 0, max: 12 };
  const job = await p.gateway.submitJob<JobView>(
    {
      programId: 3,
      dataset: dataset.id,
      publicKey: keyholder.publicKey,
      ...params,
      numParallel: 3,
      fuelLimit: '1000000',
      fuelPrice: (120n * GHOLON).toString(),
      deadlineSeconds: 600,
    },
    p.chain.deployment.core,
  );
  const done = await p.waitForEnd(job.id, 120_000);
  expect(done.status).toBe('completed');
  expect(done.subJobs.map((s) => s.status)).toEqual(['verified', 'verified', 'verified']);
  // The nodes are on probation for encrypted-stats, so every output was audited: the keyholder
  // opened it for the verifier, which recomputed the shard's statistics and compared every value.
  const statsSubJobs = await p.db.prisma.subJob.findMany({ where: { jobId: job.id } });
  const verdicts = await p.db.prisma.verification.findMany({
    where: { subJobId: { in: statsSubJobs.map((s) => s.id) } },
  });
  expect(verdicts).toHaveLength(3);
  for (const v of verdicts) {
    expect(v.rowsChecked).toBe(200);
    expect(v.maxDiff).toBeLessThan(1e-5);
  }

  // The result is a CKKS ciphertext: the gateway hands out bytes that hold no plaintext statistics.
  const expected = decodeStats(computeStats({ rows, cols, data }, params), cols, params.bins);
  const stored = Buffer.from(await p.gateway.getBlob(done.result!));
  expect(stored.includes(Buffer.from(new Float64Array([expected[0]!.sum]).buffer))).toBe(false);

  // Only the requester's keyholder key opens it.
  const opened = runCli(
    ['keyholder', 'open-stats', '--dir', keyholder.dir, job.id],
    // The requester's key in the environment, never on argv (ps shows argv).
    { ...p.env, EMETH_KEY: devKey(DEV_ROLES.requester) },
  );
  expect(await opened.exited).toBe(0);
  const got = JSON.parse(opened.output().slice(opened.output().indexOf('{'))) as {
    columns: { count: number; sum: number; mean: number; histogram: number[] }[];
  };
  expect(got.columns).toHaveLength(cols);
  for (const [c, col] of got.columns.entries()) {
    expect(col.count).toBe(rows);
    expect(col.sum).toBeCloseTo(expected[c]!.sum, 2);
    expect(col.mean).toBeCloseTo(expected[c]!.mean, 4);
    expect(col.histogram).toEqual(expected[c]!.histogram);
  }
  const noKey = runCli(['keyholder', 'open-stats', '--dir', path.join(keyholder.dir, 'nowhere'), job.id], {
    ...p.env,
    EMETH_KEY: devKey(DEV_ROLES.requester),
  });
  expect(await noKey.exited).toBe(1);
  expect(noKey.output()).toContain('no CKKS secret key at');

  // Missing parameters are refused before anything runs, naming the field.
  const bad = {
    programId: 3,
    dataset: dataset.id,
    publicKey: keyholder.publicKey,
    min: 5,
    numParallel: 1,
    fuelLimit: '1000',
    fuelPrice: (120n * GHOLON).toString(),
    deadlineSeconds: 60,
  };
  await expect(p.gateway.request('POST', '/v1/jobs', bad)).rejects.toThrow(
    /HTTP 400: max is required for encrypted-stats/,
  );
});
