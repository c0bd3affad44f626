/**
 * The gateway against its own served OpenAPI document, over real HTTP on the real stack
 * (test/support/gateway-stack: real database, Temporal dev server, anvil with EmethCore):
 *
 * - requests generated from every operation's parameters and body schema (fast-check, seeded,
 *   bounded; kept only when ajv finds them valid against the document) never get a 5xx, and never a
 *   400 with a shape code: what the document allows the gateway does not refuse for its shape.
 *   Semantic refusals (unknown blob, 402 deposit, 401/403 auth, fee below the program's minimum) are
 *   fine. Every answer is also checked against the document.
 * - every path answers 405, with `Allow` listing exactly its methods, to each method it does not serve.
 * - the four requests an earlier fuzzer found (allowed by the document, refused by the gateway) are
 *   now consistent on both sides.
 */
import { createTensor, writeDataset } from '../../lib/tensors';
import fc from 'fast-check';
import { Wallet, type HDNodeWallet } from 'ethers';
import { SHAPE_ERROR_CODES } from '../../api/schemas/common';
import { EMETH, GHOLON } from '../../lib/fees';
import { signRequest } from '../../lib/request-auth';
import { depositOnChain, stakeOnChain } from '../support/chain';
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';
import { HTTP_METHODS, OpenApiContract, type OpenApiDoc, type Pools } from '../support/openapi-contract';

const requester = Wallet.createRandom();
const node = Wallet.createRandom();
const verifier = Wallet.createRandom();
const l2 = Wallet.createRandom();
const SIGNERS = { requester, node } as const;

/** Requests per operation: enough to reach each branch of a body a few times, bounded for a 2-core CI. */
const RUNS_PER_OPERATION = 30;
const SEED = 20261201;

let stack: GatewayStack;
let contract: OpenApiContract;
let clock = Date.now();
const workflows: string[] = [];

interface Sent {
  status: number;
  body: unknown;
  allow: string | null;
}

/** One request, signed by `signer` when given, its answer checked against the document. */
async function send(
  method: string,
  urlPath: string,
  opts: { signer?: HDNodeWallet; body?: Buffer; contentType?: string } = {},
): Promise<Sent> {
  const body = opts.body ?? Buffer.alloc(0);
  const headers: Record<string, string> = opts.contentType ? { 'content-type': opts.contentType } : {};
  if (opts.signer) {
    clock += 1000; // a new second per signed request: no two signatures coincide
    Object.assign(
      headers,
      await signRequest(opts.signer, method, urlPath, body, Math.floor(clock / 1000), stack.scope),
    );
  }
  const res = await fetch(stack.base + urlPath, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' || body.length === 0 ? undefined : body,
  });
  const ct = res.headers.get('content-type');
  const raw = method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
  const parsed = ct?.includes('json') && raw.length > 0 ? JSON.parse(raw.toString('utf8')) : raw;
  contract.checkResponse({
    method,
    path: urlPath,
    status: res.status,
    contentType: ct,
    allow: res.headers.get('allow'),
    body: parsed,
  });
  const workflowId = (parsed as { workflowId?: unknown })?.workflowId;
  if (res.status === 201 && typeof workflowId === 'string') workflows.push(workflowId);
  return { status: res.status, body: parsed, allow: res.headers.get('allow') };
}

async function putBlob(bytes: Buffer): Promise<string> {
  const r = await send('PUT', '/v1/blobs', {
    signer: requester,
    body: bytes,
    contentType: 'application/octet-stream',
  });
  expect(r.status).toBe(201);
  return (r.body as { id: string }).id;
}

/** Real values mixed into the generated ones, so requests also get past "unknown blob" and reach deeper checks. */
let pools: Pools;
/** Blobs the requester uploaded: [dataset, model, …]. */
let blobIds: readonly string[];

beforeAll(async () => {
  stack = await startGatewayStack({
    name: 'contract',
    now: () => clock,
    verifiers: [verifier.address],
    l2Address: l2.address,
  });
  await depositOnChain(stack.testChain, requester, 10n * EMETH);
  await stakeOnChain(stack.testChain, node, 100n * EMETH);
  contract = new OpenApiContract((await (await fetch(`${stack.base}/v1/openapi.json`)).json()) as OpenApiDoc);

  const blobs = await Promise.all(
    ['dataset', 'model', 'train graph', 'public key', 'initial model'].map((what) =>
      putBlob(Buffer.from(`${what} bytes for the contract test`)),
    ),
  );
  const resultBlob = await putBlob(
    Buffer.from(writeDataset('npz', [createTensor('y', 'float32', [2, 2], Float32Array.of(1, 2, 3, 4))])),
  );
  const submit = () =>
    send('POST', '/v1/jobs', {
      signer: requester,
      contentType: 'application/json',
      body: Buffer.from(
        JSON.stringify({
          programId: 1,
          dataset: blobs[0],
          model: blobs[1],
          numParallel: 1,
          fuelLimit: '1000',
          fuelPrice: (1n * GHOLON).toString(),
          deadlineSeconds: 600,
        }),
      ),
    });
  const [job, done] = [await submit(), await submit()];
  expect([job.status, done.status]).toEqual([201, 201]);
  // One Job as the L2 leaves a finished one, so that its result and checkpoints can be read.
  const doneId = (done.body as { id: string }).id;
  await stack.db.prisma.job.update({
    where: { id: doneId },
    // A result as onnx-inference stores it (.npz), so that its downloads in every format answer 2xx.
    data: { status: 'completed', result: resultBlob },
  });
  const key = await send('POST', '/v1/api-keys', { signer: requester });
  expect(key.status).toBe(201);
  blobIds = blobs;
  pools = {
    dataset: blobIds,
    model: blobIds,
    trainGraph: blobIds,
    publicKey: blobIds,
    initialModel: blobIds,
    testSet: blobIds,
    id: [(job.body as { id: string }).id, doneId, (key.body as { id: string }).id, ...blobIds],
    address: [node.address, requester.address.toLowerCase()],
    // Amounts a 10 EMETH deposit covers, and a deadline the clock accepts: some Jobs get submitted.
    fuelLimit: ['1000', '120000'],
    fuelPrice: [(1n * GHOLON).toString(), (120n * GHOLON).toString()],
    deadlineSeconds: [600],
    // A generated Commit signature is never the requester's (400 invalid_commit, a semantic refusal):
    // most samples leave it out so that some Jobs are admitted. Signed Commits: admission.test.ts.
    commit: [undefined],
    // Likewise an L1 Request's signature (400 invalid_l1_request): layer l1 is refused without one,
    // so most samples stay on l2. Signed L1 Requests: test/pipeline/l1-jobs.test.ts.
    layer: [undefined, 'l2'],
    l1Request: [undefined],
  };
});

afterAll(async () => {
  await Promise.all(
    workflows.map((id) =>
      stack?.temporal.client.workflow
        .getHandle(id)
        .terminate('contract test done')
        .catch(() => undefined),
    ),
  );
  await stack?.stop();
});

/**
 * Resources that exist only once a requester's EIP-712 Commit (never generated valid) was accepted:
 * generated requests reach their refusals (no 5xx, no shape refusal of a valid request), never a 2xx.
 * Their successes are tested with signed Commits: test/pipeline/inference.test.ts (deployments) and
 * test/integration/leases.test.ts (leases).
 */
const NEEDS_SIGNED_COMMIT = ['/v1/deployments', '/v1/leases'];

function operations(): { template: string; method: string }[] {
  return Object.entries(contract.doc.paths).flatMap(([template, item]) =>
    Object.keys(item)
      .filter((m) => (HTTP_METHODS as readonly string[]).includes(m))
      .map((method) => ({ template, method })),
  );
}

describe('requests generated from the served document', () => {
  test('no 5xx, and no document-valid request is refused for its shape', async () => {
    const failures: string[] = [];
    const statuses = new Map<string, number>();
    for (const [i, { template, method }] of operations().entries()) {
      const arb = fc.record({
        request: contract.requestArbitrary(template, method, pools),
        signer: fc.constantFrom(...(Object.keys(SIGNERS) as (keyof typeof SIGNERS)[])),
      });
      const samples = fc.sample(arb, { seed: SEED + i, numRuns: RUNS_PER_OPERATION });
      for (const { request, signer } of samples) {
        const label = `${request.method} ${request.path} (${request.contentType ?? 'no body'}${request.body ? `: ${request.body.toString('utf8').slice(0, 300)}` : ''})`;
        let r: Sent;
        try {
          r = await send(request.method, request.path, {
            signer: contract.securityOf(template, method) === 'signed' ? SIGNERS[signer] : undefined,
            body: request.body,
            contentType: request.contentType,
          });
        } catch (err) {
          failures.push(`${label}: ${(err as Error).message}`);
          continue;
        }
        const key = `${request.method} ${template} ${r.status}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        const code = (r.body as { error?: string })?.error;
        if (r.status >= 500) failures.push(`${label}: ${r.status} ${JSON.stringify(r.body)}`);
        else if (r.status === 400 && (SHAPE_ERROR_CODES as readonly string[]).includes(code ?? ''))
          failures.push(`${label}: refused for its shape: ${JSON.stringify(r.body)}`);
      }
    }
    expect(failures).toEqual([]);
    // The generated requests got past the refusals too: every operation answered a 2xx at least once.
    const succeeded = new Set(
      [...statuses.keys()]
        .filter((k) => k.endsWith(' 200') || k.endsWith(' 201') || k.endsWith(' 202'))
        .map((k) => k.split(' ').slice(0, 2).join(' ')),
    );
    expect(
      operations()
        .map((o) => `${o.method.toUpperCase()} ${o.template}`)
        .filter((o) => !succeeded.has(o) && !NEEDS_SIGNED_COMMIT.some((t) => o.includes(t))),
    ).toEqual([]);
    // 630 requests, each POST /v1/jobs inspected with onnxruntime: about a minute alone, longer
    // beside other suites on two cores.
  }, 400_000);
});

describe('methods a path does not serve', () => {
  test('every path answers 405 with Allow listing exactly its methods', async () => {
    let checked = 0;
    for (const template of Object.keys(contract.doc.paths)) {
      const served = contract.methodsOf(template);
      // A concrete path: each parameter by a value its schema allows.
      const op = Object.values(contract.doc.paths[template]!)[0] as {
        parameters?: { name: string; in: string; schema: Record<string, unknown> }[];
      };
      let concrete = template;
      for (const p of op.parameters ?? []) {
        if (p.in !== 'path') continue;
        const [value] = fc.sample(contract.arbitrary(p.schema), { seed: SEED, numRuns: 1 });
        concrete = concrete.replace(`{${p.name}}`, encodeURIComponent(String(value)));
      }
      for (const method of HTTP_METHODS.map((m) => m.toUpperCase()).filter((m) => !served.includes(m))) {
        const r = await send(method, concrete, { signer: requester });
        expect({ path: concrete, method, status: r.status }).toEqual({ path: concrete, method, status: 405 });
        expect(
          r.allow
            ?.split(',')
            .map((m) => m.trim())
            .sort(),
        ).toEqual([...served].sort());
        if (method !== 'HEAD') expect((r.body as { error: string }).error).toBe('method_not_allowed');
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  test('an unknown path stays a 404', async () => {
    const r = await send('DELETE', '/v1/nothing-here', { signer: requester });
    expect(r.status).toBe(404);
    expect(r.allow).toBeNull();
  });
});

test("a low-order X25519 key in `to` is the caller's 400, not a gateway 500", async () => {
  const r = await send('GET', `/v1/blobs/${blobIds[0]}?to=${'00'.repeat(32)}`, { signer: requester });
  expect(r.status).toBe(400);
  expect(r.body).toMatchObject({ error: 'unusable_key', field: 'to' });
});

describe('the four requests an earlier fuzzer found', () => {
  const createJobRef = '#/components/schemas/CreateJob';
  const body = (over: Record<string, unknown>) => ({
    programId: 1,
    dataset: blobIds[0],
    model: blobIds[1],
    numParallel: 1,
    fuelLimit: '1000',
    fuelPrice: (1n * GHOLON).toString(),
    deadlineSeconds: 600,
    ...over,
  });

  test('GET /v1/jobs?cursor= and GET /v1/nodes?capabilityClass= : empty is "absent", in the document and the gateway', async () => {
    const jobs = await send('GET', '/v1/jobs?cursor=', { signer: requester });
    expect(jobs.status).toBe(200);
    const all = await send('GET', '/v1/jobs', { signer: requester });
    expect(jobs.body).toEqual(all.body);
    const nodes = await send('GET', '/v1/nodes?capabilityClass=', { signer: requester });
    expect(nodes.status).toBe(200);
    for (const [path, name] of [
      ['/v1/jobs', 'cursor'],
      ['/v1/nodes', 'capabilityClass'],
    ] as const) {
      const i = contract.doc.paths[path]!.get!.parameters!.findIndex((p) => p.name === name);
      expect(
        contract.errors(
          `#/paths/${encodeURIComponent(path.replace(/\//g, '~1'))}/get/parameters/${i}/schema`,
          '',
        ),
      ).toEqual([]);
    }
  });

  test('fuelLimit "0": refused by the document (pattern) and by the gateway, naming the field', async () => {
    expect(contract.errors(createJobRef, body({}))).toEqual([]);
    expect(contract.errors(createJobRef, body({ fuelLimit: '0' }))).not.toEqual([]);
    const r = await send('POST', '/v1/jobs', {
      signer: requester,
      contentType: 'application/json',
      body: Buffer.from(JSON.stringify(body({ fuelLimit: '0' }))),
    });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'invalid_field', field: 'fuelLimit' });
  });

  test('an empty PUT /v1/blobs: refused by the document (minLength 1) and by the gateway', async () => {
    const ref = `#/paths/${encodeURIComponent('~1v1~1blobs')}/put/requestBody/content/${encodeURIComponent('application~1octet-stream')}/schema`;
    expect(contract.errors(ref, '')).not.toEqual([]);
    expect(contract.errors(ref, 'x')).toEqual([]);
    const r = await send('PUT', '/v1/blobs', { signer: requester, contentType: 'application/octet-stream' });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'empty_body' });
  });
});
