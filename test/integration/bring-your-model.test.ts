// Bring your own model and data, as a requester would: every fixture model (skl2onnx, PyTorch,
// TensorFlow, onnx.helper exports) × every data format its input fits (.npy, .npz, CSV, Parquet,
// EMTX), uploaded and submitted through the gateway, run by real node processes and checked by the
// real verifier; every output of the downloaded result equal to the exporter's local onnxruntime
// run (|diff| ≤ 1e-6 for floats, exact for integers, booleans and halves). The refused shapes get
// 400 naming the field and the reason.
import { EMETH, GHOLON } from '../../lib/fees';
import { signRequest, withNonce } from '../../lib/request-auth';
import { readDataset } from '../../lib/tensors';
import { TestPipeline } from '../support/pipeline';
import {
  REFUSALS,
  fixtureBytes,
  fixtureCases,
  manifest,
  outputDiff,
  type FixtureCase,
} from '../support/fixture-cases';
import type { JobView } from '../../cli/job-status';

jest.setTimeout(600_000);

let p: TestPipeline;
let cases: FixtureCase[];
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await Promise.all([p.startVerifier(), p.startNode(), p.startNode(), p.startNode()]);
  cases = await fixtureCases();
});
afterAll(() => p?.stop());

const FUEL_PRICE = (1n * GHOLON).toString(); // the minimum: the fee limit stays small beside the deposit

function jobBody(ids: { dataset: string; model: string }, extra: Record<string, unknown> = {}) {
  return {
    programId: 1,
    dataset: ids.dataset,
    model: ids.model,
    numParallel: 2,
    fuelLimit: '200000000',
    fuelPrice: FUEL_PRICE,
    deadlineSeconds: 900,
    ...extra,
  };
}

/** The bytes of a signed GET (the result in a format), or the status and body of its refusal. */
async function download(path: string): Promise<{ status: number; bytes: Uint8Array }> {
  const signed = withNonce(path);
  const res = await fetch(p.config.gateway.url + signed, {
    headers: await signRequest(p.requester, 'GET', signed, '', undefined, p.gateway.scope),
  });
  return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function refusal(body: unknown): Promise<{ status: number; field?: string; message: string }> {
  const signed = withNonce('/v1/jobs');
  const raw = JSON.stringify(body);
  const res = await fetch(p.config.gateway.url + signed, {
    method: 'POST',
    headers: {
      ...(await signRequest(p.requester, 'POST', signed, raw, undefined, p.gateway.scope)),
      'content-type': 'application/json',
    },
    body: raw,
  });
  const answer = (await res.json()) as { field?: string; message: string };
  if (res.ok) throw new Error('the request was accepted');
  return { status: res.status, field: answer.field, message: answer.message };
}

/** What differs between a finished Job's downloaded result and the local run (nothing: []). */
async function check(c: FixtureCase, job: JobView): Promise<string[]> {
  const end = await p.waitForEnd(job.id, 300_000);
  if (end.status !== 'completed') {
    return [
      `${c.label}: ${end.status}: ${(end as { reason?: string }).reason ?? ''} ${JSON.stringify(end.subJobs?.map((s) => s.status))}`,
    ];
  }
  const npz = await download(`/v1/jobs/${job.id}/result?format=npz`);
  if (npz.status !== 200) return [`${c.label}: result download answered ${npz.status}`];
  const got = (await readDataset(npz.bytes, 'npz')).tensors;
  const wrong: string[] = [];
  if (got.length !== c.expected.length)
    wrong.push(`${c.label}: ${got.length} outputs, ${c.expected.length} expected`);
  for (const want of c.expected) {
    const mine = got.find((t) => t.name === want.name);
    if (!mine)
      wrong.push(`${c.label}: output '${want.name}' missing (got ${got.map((t) => t.name).join(', ')})`);
    else {
      const diff = outputDiff(mine, want);
      if (!(diff <= 1e-6)) wrong.push(`${c.label}: output '${want.name}' differs by ${diff}`);
    }
  }
  return wrong;
}

test('every fixture model × every data format, through the gateway on real nodes, equals a local onnxruntime run', async () => {
  // Two Jobs in flight at a time (two SubJobs each, over three nodes): a node runs one SubJob at a
  // time, and a burst far past the nodes' capacity would time out in their queues (the pickup
  // timeout is 5 s here) — that is the dispatcher's business, not what this test is about.
  const outcomes: string[] = [];
  const queue = [...cases];
  let submittedCount = 0;
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const model = (await p.gateway.putBlob(c.modelBytes)).id;
      const dataset = (await p.gateway.putBlob(c.dataset)).id;
      const extra = c.inputs ? { inputs: c.inputs } : {};
      const job = await p.gateway.submitJob<JobView>(
        jobBody({ dataset, model }, extra),
        p.chain.deployment.core,
      );
      submittedCount++;
      outcomes.push(...(await check(c, job)));
    }
  };
  await Promise.all([worker(), worker()]);
  expect(outcomes).toEqual([]);
  expect(submittedCount).toBe(cases.length);
});

test('a result downloads as .npy (one output), .npz and CSV; several outputs as .npy are refused naming format', async () => {
  const c = cases.find((x) => x.model === 'skl-logreg' && x.format === 'csv')!;
  const model = (await p.gateway.putBlob(c.modelBytes)).id;
  const dataset = (await p.gateway.putBlob(c.dataset)).id;
  const both = await p.gateway.submitJob<JobView>(
    jobBody({ dataset, model }, { inputs: c.inputs }),
    p.chain.deployment.core,
  );
  const one = await p.gateway.submitJob<JobView>(
    jobBody({ dataset, model }, { inputs: c.inputs, outputs: ['probabilities'] }),
    p.chain.deployment.core,
  );
  expect((await p.waitForEnd(both.id, 120_000)).status).toBe('completed');
  expect((await p.waitForEnd(one.id, 120_000)).status).toBe('completed');

  const npy = await download(`/v1/jobs/${one.id}/result?format=npy`);
  expect(npy.status).toBe(200);
  const probs = (await readDataset(npy.bytes, 'npy')).tensors[0]!;
  expect([probs.dtype, probs.shape]).toEqual(['float32', [256, 10]]);
  expect(
    outputDiff(
      { ...probs, name: 'probabilities' },
      c.expected.find((t) => t.name === 'probabilities')!,
    ),
  ).toBeLessThanOrEqual(1e-6);

  const csv = await download(`/v1/jobs/${both.id}/result?format=csv`);
  expect(csv.status).toBe(200);
  const text = new TextDecoder().decode(csv.bytes);
  expect(text.split('\n')[0]).toBe(
    ['label', ...Array.from({ length: 10 }, (_, j) => `probabilities_${j}`)].join(','),
  );
  expect(text.trim().split('\n')).toHaveLength(257);

  const refused = await download(`/v1/jobs/${both.id}/result?format=npy`);
  expect(refused.status).toBe(400);
  const body = JSON.parse(new TextDecoder().decode(refused.bytes)) as { field: string; message: string };
  expect(body.field).toBe('format');
  expect(body.message).toMatch(/holds one array but there are 2 \('label', 'probabilities'\); use .npz/);

  const bad = await download(`/v1/jobs/${both.id}/result?format=xlsx`);
  expect(bad.status).toBe(400);
});

describe('refused at submit with 400, naming the field and the reason', () => {
  let digits: string;
  let logreg: string;
  beforeAll(async () => {
    digits = (await p.gateway.putBlob(fixtureBytes('data/digits-X.npy'))).id;
    logreg = (await p.gateway.putBlob(fixtureBytes('models/skl-logreg.onnx'))).id;
  });

  test.each(
    manifest()
      .models.filter((m) => m.status === 'refuse')
      .map((m) => [m.name, m.refusal!, m.file] as const),
  )('%s (%s)', async (_name, why, file) => {
    const model = (await p.gateway.putBlob(fixtureBytes(file))).id;
    const r = await refusal(jobBody({ dataset: digits, model }));
    expect([r.status, r.field]).toEqual([400, 'model']);
    expect(r.message).toMatch(REFUSALS[why]!);
  });

  test('input width mismatch', async () => {
    const narrow = (await p.gateway.putBlob(fixtureBytes('data/digits-63cols.npy'))).id;
    const r = await refusal(jobBody({ dataset: narrow, model: logreg }));
    expect([r.status, r.field]).toEqual([400, 'dataset']);
    expect(r.message).toMatch(/input "X" takes \[N, 64\]; array 'X' is \[32, 63\]/);
  });

  test('unparseable CSV', async () => {
    const broken = (await p.gateway.putBlob(fixtureBytes('data/broken.csv'))).id;
    const r = await refusal(jobBody({ dataset: broken, model: logreg }));
    expect([r.status, r.field]).toEqual([400, 'dataset']);
    expect(r.message).toMatch(/row/);
  });

  test('an inputs binding that is not an object of names', async () => {
    const r = await refusal(jobBody({ dataset: digits, model: logreg }, { inputs: { X: 5 } }));
    expect([r.status, r.field]).toEqual([400, 'inputs']);
  });

  test('a dataset format EMETH does not read', async () => {
    const r = await refusal(jobBody({ dataset: digits, model: logreg }, { datasetFormat: 'xlsx' }));
    expect([r.status, r.field]).toEqual([400, 'datasetFormat']);
    expect(r.message).toMatch(/one of npy, npz, csv, parquet, emtx/);
  });
});
