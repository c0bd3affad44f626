/**
 * The inference service (paper 5-1) against real processes: the L2 server, node workers holding
 * warm sessions and a verifier, on the run's Temporal server and the suite's own anvil. Deploy,
 * infer (outputs equal a local onnxruntime run), scale down and up, a replica killed mid-stream,
 * a lying replica caught by a canary, and a stop that bills every answered request once and
 * refunds the rest of the budget to the holon.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Wallet } from 'ethers';
import { TestPipeline, type TestNode } from '../support/pipeline';
import { GatewayClient } from '../../cli/gateway-client';
import { EMETH, GHOLON } from '../../lib/fees';
import { generateExamples } from '../../examples/generate';
import { createOnnxSession } from '../../activities/programs/onnx-runtime';
import { createTensor, readNpy, writeNpy } from '../../lib/tensors';
import { signRequest, withNonce } from '../../lib/request-auth';
import { runCliToEnd } from '../support/process';
import { DEV_ROLES, devKey } from '../../lib/dev-accounts';

jest.setTimeout(300_000);

interface DeploymentView {
  id: string;
  status: string;
  budget: string;
  charged: string;
  refunded: string;
  requests: number;
  spent: string;
  targetReplicas: number;
  replicas: { nodeId: string; status: string; reason: string | null }[];
}
interface Inference {
  requestId: string;
  nodeId: string;
  charged: string;
  outputs: Record<string, { dtype: string; shape: number[]; data: number[] }>;
}

const PRICE = 5n * GHOLON * 1000n; // per request
const BUDGET = 20n * EMETH;

let p: TestPipeline;
let nodes: TestNode[];
let modelBytes: Uint8Array;
let rows: number[][];

beforeAll(async () => {
  p = await TestPipeline.start({ env: { EMETH_INFERENCE_WINDOW_MS: '1500' } });
  await p.startVerifier();
  nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await p.startNode());
  const ex = await generateExamples(path.join(p.home, 'examples-infer'), { rows: 8 });
  modelBytes = new Uint8Array(fs.readFileSync(ex.model.path));
  rows = Array.from({ length: 4 }, (_, r) => Array.from({ length: 32 }, (_, c) => Math.sin(r * 32 + c)));
  await p.deposit(100n * EMETH);
});

afterAll(() => p?.stop());

async function deploy(extra: Record<string, unknown> = {}): Promise<DeploymentView> {
  const model = await p.gateway.putBlob(modelBytes);
  return p.gateway.deploy<DeploymentView>(
    {
      model: model.id,
      pricing: 'request',
      price: PRICE.toString(),
      budget: BUDGET.toString(),
      maxRowsPerRequest: 16,
      ...extra,
    },
    p.chain.deployment.core,
  );
}

const view = (id: string) => p.gateway.request<DeploymentView>('GET', `/v1/deployments/${id}`);

async function waitFor(id: string, what: string, ok: (d: DeploymentView) => boolean, timeoutMs = 90_000) {
  const until = Date.now() + timeoutMs;
  let last: DeploymentView | undefined;
  while (Date.now() < until) {
    last = await view(id);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`deployment ${id} never reached "${what}": ${JSON.stringify(last)}`);
}

async function waitUntil(ok: () => boolean, what: string, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`never saw ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const serving = (d: DeploymentView) => d.replicas.filter((r) => r.status === 'serving');

async function localRun(input: number[][]): Promise<Float32Array> {
  const session = await createOnnxSession(modelBytes, { preferCuda: false });
  const [out] = await session.run({
    [session.model.inputs[0]!.name]: createTensor(
      session.model.inputs[0]!.name,
      'float32',
      [input.length, 32],
      Float32Array.from(input.flat()),
    ),
  });
  await session.release();
  return out!.data as Float32Array;
}

test('deploy, infer (JSON and .npy) equal to a local run, scale down and up, stop: billed once, the rest refunded', async () => {
  const freeBefore = await p.core().freeDeposit(await p.requester.getAddress());
  const created = await deploy({ minReplicas: 1, maxReplicas: 3, replicas: 2 });
  expect(created.status).toBe('deploying');
  let d = await waitFor(created.id, '2 serving', (v) => v.status === 'serving' && serving(v).length === 2);

  const expected = await localRun(rows);
  const answer = await p.gateway.infer<Inference>(d.id, rows);
  const [name] = Object.keys(answer.outputs);
  expect(answer.outputs[name!]!.shape).toEqual([4, expected.length / 4]);
  expect(Float32Array.from(answer.outputs[name!]!.data)).toEqual(expected);
  expect(BigInt(answer.charged)).toBe(PRICE);

  // A .npy body, answered as .npy: the same bytes a local run gives.
  const npy = writeNpy(createTensor('x', 'float32', [4, 32], Float32Array.from(rows.flat())));
  const route = withNonce(`/v1/deployments/${d.id}/infer`);
  const res = await fetch(p.config.gateway.url + route, {
    method: 'POST',
    headers: {
      ...(await signRequest(p.requester, 'POST', route, npy, undefined, p.gateway.scope)),
      'content-type': 'application/x-npy',
      accept: 'application/x-npy',
    },
    body: Buffer.from(npy),
  });
  expect(res.status).toBe(200);
  expect(readNpy(new Uint8Array(await res.arrayBuffer())).data).toEqual(expected);

  // Another requester cannot call (and so spend) this deployment.
  const stranger = new GatewayClient(p.config.gateway.url, Wallet.createRandom(), p.chain.deployment.chainId);
  await expect(stranger.infer(d.id, rows)).rejects.toThrow(/HTTP 403/);

  // A refusal names the field.
  const bad = await p.gateway.infer(d.id, [[1, 2, 3]]).catch((e: Error) => e.message);
  expect(bad).toMatch(/HTTP 400.*input/);

  // Scale down to 1, then up to 3.
  await p.gateway.request('PATCH', `/v1/deployments/${d.id}`, { replicas: 1 });
  d = await waitFor(d.id, '1 serving', (v) => serving(v).length === 1);
  // The retired replica's node released its session (its unload is sealed to it like its load).
  const retired = d.replicas.find((r) => r.status === 'stopped')!;
  const retiredLog = nodes.find((n) => n.address === retired.nodeId)!.logFile;
  await waitUntil(
    () => fs.readFileSync(retiredLog, 'utf8').includes('replica unloaded'),
    'the session released',
  );
  await p.gateway.request('PATCH', `/v1/deployments/${d.id}`, { replicas: 3 });
  d = await waitFor(d.id, '3 serving', (v) => serving(v).length === 3);
  for (let i = 0; i < 10; i++) await p.gateway.infer(d.id, rows.slice(0, 1 + (i % 4)));

  await p.gateway.request('DELETE', `/v1/deployments/${d.id}`);
  d = await waitFor(d.id, 'stopped', (v) => v.status === 'stopped');
  const answered = 1 + 1 + 10;
  expect(d.requests).toBe(answered);
  expect(BigInt(d.charged)).toBe(PRICE * BigInt(answered));
  expect(BigInt(d.refunded)).toBe(BUDGET - BigInt(d.charged));
  const requester = (await p.requester.getAddress()).toLowerCase();
  const commitment = await p.core().getCommitment(requester, d.id);
  expect(commitment.amount).toBe(BigInt(d.charged));
  expect(commitment.settled).toBe(true);
  // Tickets: per window and node, summing to the charge; the deposit is free again but for them.
  const tickets = await p.db.prisma.ticket.findMany({ where: { jobId: d.id } });
  expect(tickets.reduce((a, t) => a + BigInt(t.amount.toFixed(0)), 0n)).toBe(BigInt(d.charged));
  // Redemptions move balance and commitment together: the free deposit is down by the charge alone.
  expect(await p.core().freeDeposit(requester)).toBe(freeBefore - BigInt(d.charged));
});

test('a replica killed mid-stream: every request answered once, none lost, none billed twice; the replica is replaced', async () => {
  const created = await deploy({ minReplicas: 2, maxReplicas: 2 });
  let d = await waitFor(created.id, '2 serving', (v) => v.status === 'serving' && serving(v).length === 2);
  const doomedId = serving(d)[0]!.nodeId;
  const doomed = nodes.find((n) => n.address === doomedId)!;

  const answers: Inference[] = [];
  const errors: string[] = [];
  const client = async (k: number) => {
    for (let i = 0; i < 15; i++) {
      try {
        answers.push(await p.gateway.infer<Inference>(d.id, rows.slice(0, 1 + ((k + i) % 4))));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  const load = Promise.all([0, 1, 2, 3].map(client));
  await new Promise((r) => setTimeout(r, 400));
  await doomed.process.stop('SIGKILL');
  await load;
  expect(errors).toEqual([]);
  expect(answers).toHaveLength(60);
  expect(new Set(answers.map((a) => a.requestId)).size).toBe(60);
  // A replacement on the third node.
  d = await waitFor(
    d.id,
    '2 serving again',
    (v) => serving(v).length === 2 && !serving(v).some((r) => r.nodeId === doomedId),
  );

  await p.gateway.request('DELETE', `/v1/deployments/${d.id}`);
  d = await waitFor(d.id, 'stopped', (v) => v.status === 'stopped');
  const recorded = await p.db.prisma.inferenceRequest.findMany({
    where: { deploymentId: d.id, canary: false },
  });
  expect(recorded.map((r) => r.id).sort()).toEqual(answers.map((a) => a.requestId).sort());
  // Billed to the node that answered, once.
  for (const a of answers) expect(recorded.find((r) => r.id === a.requestId)!.nodeId).toBe(a.nodeId);
  expect(BigInt(d.charged)).toBe(PRICE * 60n);
  expect(BigInt(d.refunded)).toBe(BUDGET - PRICE * 60n);
});

test('a replica that lies is caught by a canary: fined, replaced, and its lies are not billed', async () => {
  const liar = await p.startNode({ behaviour: 'lie-serving', capabilityClass: 'liars' });
  const stakeBefore = await p.stakeOf(liar.address);
  const created = await deploy({ capabilityClass: 'liars', minReplicas: 1, maxReplicas: 1 });
  await waitFor(created.id, 'serving', (v) => v.status === 'serving');
  // Its answers differ from the model's: the verifier's re-run of a canary proves it.
  const d = await waitFor(created.id, 'the liar failed', (v) =>
    v.replicas.some((r) => r.nodeId === liar.address && r.status === 'failed' && /lied/.test(r.reason ?? '')),
  );
  expect(await p.stakeOf(liar.address)).toBeLessThan(stakeBefore);
  const rows = await p.db.prisma.inferenceRequest.findMany({ where: { deploymentId: d.id, valid: false } });
  expect(rows.length).toBeGreaterThan(0);
  await p.gateway.request('DELETE', `/v1/deployments/${d.id}`);
  const stopped = await waitFor(d.id, 'stopped', (v) => v.status === 'stopped');
  expect(stopped.charged).toBe('0');
  expect(BigInt(stopped.refunded)).toBe(BUDGET);
});

test('a budget is never overspent: the request past it is refused (402) before any node runs it', async () => {
  const budget = PRICE * 3n;
  const created = await deploy({ budget: budget.toString(), maxRowsPerRequest: 4 });
  await waitFor(created.id, 'serving', (v) => v.status === 'serving');
  const answers = await Promise.allSettled(
    [0, 1, 2, 3, 4].map(() => p.gateway.infer<Inference>(created.id, rows)),
  );
  expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(3);
  for (const a of answers.filter((a) => a.status === 'rejected'))
    expect(String((a as PromiseRejectedResult).reason)).toMatch(/HTTP 402/);
  await p.gateway.request('DELETE', `/v1/deployments/${created.id}`);
  const d = await waitFor(created.id, 'stopped', (v) => v.status === 'stopped');
  expect(BigInt(d.charged)).toBe(budget);
  expect(d.refunded).toBe('0');
});

test('the CLI: emeth deploy, infer (a .npy file in, .npy out), deploy status and stop; a wrong command line exits 2', async () => {
  const env = { ...p.env, EMETH_KEY: devKey(DEV_ROLES.requester), EMETH_LOG_LEVEL: 'warn' };
  const modelFile = path.join(p.home, 'served.onnx');
  fs.writeFileSync(modelFile, modelBytes);
  const run = (args: string[]) => runCliToEnd(args, env);
  const deployed = await run([
    'deploy',
    modelFile,
    '--budget',
    '1',
    '--price-per-request',
    '0.000005',
    '--max-rows',
    '16',
  ]);
  expect(deployed.code).toBe(0);
  const id = /deployment (0x[0-9a-f]{64})/.exec(deployed.out)![1]!;
  await waitFor(id, 'serving', (v) => v.status === 'serving');

  const input = path.join(p.home, 'rows.npy');
  const output = path.join(p.home, 'out.npy');
  fs.writeFileSync(input, writeNpy(createTensor('x', 'float32', [4, 32], Float32Array.from(rows.flat()))));
  const inferred = await run(['infer', id, '--input', input, '-o', output]);
  expect(inferred.code).toBe(0);
  expect(readNpy(new Uint8Array(fs.readFileSync(output))).data).toEqual(await localRun(rows));

  const status = await run(['deploy', 'status', id]);
  expect(status.out).toMatch(/serving/);
  expect(status.out).toMatch(/requests: 1; spent 0\.000005 EMETH of 1 EMETH;/);
  const wrong = await run(['infer', id]);
  expect(wrong.code).toBe(2);
  expect(wrong.out).toMatch(/exactly one of --input/);

  expect((await run(['deploy', 'stop', id])).code).toBe(0);
  const stopped = await waitFor(id, 'stopped', (v) => v.status === 'stopped');
  expect(BigInt(stopped.charged)).toBe(5n * 10n ** 12n);
  expect(BigInt(stopped.refunded)).toBe(EMETH - 5n * 10n ** 12n);
});
