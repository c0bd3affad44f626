/**
 * The REST gateway's /v1 API over real HTTP, against a real PostgreSQL database, a real local blob
 * store and the run's real Temporal dev server (no worker polls the suite's L2 queue, so started Job
 * workflows stay pending; starting them and their search attributes is what is checked), and a real
 * anvil with EmethCore, where the requesters deposit and the node stakes. Every response is checked
 * against the gateway's own OpenAPI document.
 */
import { Wallet, type HDNodeWallet } from 'ethers';
import { depositOnChain, stakeOnChain, type TestChain } from '../support/chain';
import { blobIdOf } from '../../activities/storage';
import type { SealedBlobStore } from '../../activities/storage-sealed';
import {
  DATA_KEY_HEADER,
  ENVELOPE_CONTENT_TYPE,
  openBlob,
  publicKeyHex,
  sealingKeysOf,
} from '../../lib/envelope';
import { jobWorkflowId } from '../../lib/ids';
import { signRequest, type RequestScope } from '../../lib/request-auth';
import { EmethJobId, EmethProgramId, EmethRequester, EmethStatus } from '../../lib/search-attributes';
import { EMETH, GHOLON } from '../../lib/fees';
import type { TestDatabase } from '../support/db';
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';
import { OpenApiContract, type OpenApiDoc } from '../support/openapi-contract';
import { withWorker, type TestTemporal } from '../support/temporal';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Reply {
  status: number;
  body: Json;
  headers: Headers;
}

interface CallOptions {
  signer?: HDNodeWallet;
  apiKey?: string;
  /** A JSON value, or raw bytes/text sent as they are. */
  body?: unknown;
  raw?: Buffer | string;
  /** Unix seconds the request is signed at (default: the gateway's clock). */
  timestamp?: number;
  /** Sign this body instead of the one sent (a tampered request). */
  signBody?: Buffer | string;
  /** Sign this path instead of the one requested. */
  signPath?: string;
  /** Sign for this gateway and chain instead of the suite's (a request meant for another deployment). */
  signScope?: RequestScope;
  headers?: Record<string, string>;
}

const requester = Wallet.createRandom();
const other = Wallet.createRandom();
const node = Wallet.createRandom();
const unstaked = Wallet.createRandom();
const verifier = Wallet.createRandom();
const l2 = Wallet.createRandom();

const FUEL_PRICE = (120n * GHOLON).toString(); // the paper's example: 120,000 fuel × 120 Gholon
const FUEL_LIMIT = '120000';

let stack: GatewayStack;
let db: TestDatabase;
let temporal: TestTemporal;
let store: SealedBlobStore;
let base: string;
let contract: OpenApiContract;
/** The gateway's clock in ms; each signed request moves it a second so no two signatures coincide. */
let clock = Date.now();
const started: string[] = [];
const checkedResponses: string[] = [];

let testChain: TestChain;

async function call(method: string, urlPath: string, opts: CallOptions = {}): Promise<Reply> {
  const payload: Buffer | string =
    opts.raw ?? (opts.body === undefined ? '' : Buffer.from(JSON.stringify(opts.body)));
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  if (opts.signer) {
    clock += 1000;
    const ts = opts.timestamp ?? Math.floor(clock / 1000);
    Object.assign(
      headers,
      await signRequest(
        opts.signer,
        method,
        opts.signPath ?? urlPath,
        opts.signBody ?? payload,
        ts,
        opts.signScope ?? stack.scope,
      ),
    );
  }
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
  const res = await fetch(base + urlPath, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' || payload.length === 0 ? undefined : payload,
  });
  const ct = res.headers.get('content-type');
  const text =
    method === 'HEAD' ? '' : ct?.includes('json') ? await res.text() : Buffer.from(await res.arrayBuffer());
  const body = typeof text === 'string' && text && ct?.includes('json') ? JSON.parse(text) : text;
  contract.checkResponse({
    method,
    path: urlPath,
    status: res.status,
    contentType: ct,
    allow: res.headers.get('allow'),
    body,
  });
  checkedResponses.push(`${method} ${urlPath.split('?')[0]} ${res.status}`);
  return { status: res.status, body, headers: res.headers };
}

const signed = (signer: HDNodeWallet, extra: Omit<CallOptions, 'signer'> = {}): CallOptions => ({
  signer,
  ...extra,
});

async function putBlob(signer: HDNodeWallet, bytes: Buffer): Promise<string> {
  const r = await call(
    'PUT',
    '/v1/blobs',
    signed(signer, { raw: bytes, headers: { 'content-type': 'application/octet-stream' } }),
  );
  expect(r.status).toBe(201);
  // Stored sealed: the id and size are the envelope's, which holds no plaintext and opens to the bytes.
  const envelope = Buffer.from(await store.envelopes.get(r.body.id));
  expect(r.body).toEqual({ id: blobIdOf(envelope), size: envelope.length });
  expect(envelope.includes(bytes)).toBe(false);
  expect(Buffer.from(await store.get(r.body.id)).equals(bytes)).toBe(true);
  return r.body.id;
}

function jobBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    programId: 1,
    dataset: datasetId,
    model: modelId,
    numParallel: 2,
    fuelLimit: FUEL_LIMIT,
    fuelPrice: FUEL_PRICE,
    deadlineSeconds: 3600,
    ...over,
  };
}

async function createJob(over: Record<string, unknown> = {}, signer = requester): Promise<Json> {
  const r = await call('POST', '/v1/jobs', signed(signer, { body: jobBody(over) }));
  expect(r.status).toBe(201);
  started.push(r.body.workflowId);
  return r.body;
}

let datasetId: string;
let modelId: string;

const RETIRED_PROGRAM = 9;

beforeAll(async () => {
  stack = await startGatewayStack({
    name: 'gateway',
    now: () => clock,
    verifiers: [verifier.address],
    l2Address: l2.address,
  });
  ({ db, temporal, store, testChain, base } = stack);
  // A program governance switched off: Jobs for it are refused.
  await db.prisma.program.create({
    data: {
      id: RETIRED_PROGRAM,
      name: 'retired-program',
      subProgramId: null,
      minFuelPrice: '0',
      defaultFuelLimit: '1',
      active: false,
    },
  });
  await depositOnChain(testChain, requester, 10n * EMETH);
  await depositOnChain(testChain, other, 10n * EMETH);
  await stakeOnChain(testChain, node, 100n * EMETH);
  contract = new OpenApiContract((await (await fetch(`${base}/v1/openapi.json`)).json()) as OpenApiDoc);

  datasetId = await putBlob(requester, Buffer.from('EMTX dataset bytes for the gateway test'));
  modelId = await putBlob(requester, Buffer.from('onnx model bytes for the gateway test'));
});

afterAll(async () => {
  // No worker runs these: terminate them so they do not linger on the shared server.
  await Promise.all(
    started.map((id) =>
      temporal?.client.workflow
        .getHandle(id)
        .terminate('gateway test done')
        .catch(() => undefined),
    ),
  );
  await stack?.stop();
});

describe('public routes', () => {
  test('/healthz keeps its shape and /v1/openapi.json is an OpenAPI 3.1 document of every route', async () => {
    const h = await call('GET', '/healthz');
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('up');
    const o = await call('GET', '/v1/openapi.json');
    expect(o.status).toBe(200);
    expect(o.body.openapi).toBe('3.1.0');
    expect(Object.keys(o.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/blobs',
        '/v1/blobs/{id}',
        '/v1/jobs',
        '/v1/jobs/{id}',
        '/v1/jobs/{id}/cancel',
        '/v1/jobs/{id}/result',
        '/v1/nodes',
        '/v1/nodes/{address}',
        '/v1/nodes/{address}/tickets',
        '/v1/api-keys',
        '/v1/api-keys/{id}',
      ]),
    );
    expect(Object.keys(o.body.components.securitySchemes)).toEqual([
      'emethAddress',
      'emethTimestamp',
      'emethSignature',
      'apiKey',
    ]);
  });
});

describe('jobs', () => {
  test('create → get → list → cancel, with the workflow started and searchable', async () => {
    const job = await createJob();
    expect(job).toMatchObject({
      status: 'submitted',
      requester: requester.address.toLowerCase(),
      programId: 1,
      dataset: datasetId,
      model: modelId,
      numParallel: 2,
      fuelLimit: FUEL_LIMIT,
      fuelPrice: FUEL_PRICE,
      capabilityClass: 'cpu',
      splitAllowed: true,
      workflowId: jobWorkflowId(job.id),
      temporalUiUrl: `http://127.0.0.1:8233/namespaces/default/workflows/${jobWorkflowId(job.id)}`,
    });
    // 120,000 fuel × 120 Gholon = 0.0144 EMETH; the verifier fee is 5% of it.
    expect(job.fees.feeLimit).toBe('14400000000000000');
    expect(job.fees.emeth.feeLimit).toBe('0.0144');
    expect(job.fees.verifierFee).toBe('720000000000000');

    const row = await db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(row.status).toBe('submitted');
    expect(row.requester).toBe(requester.address.toLowerCase());
    expect(row.params).toEqual({ model: modelId });

    const described = await temporal.client.workflow.getHandle(job.workflowId).describe();
    expect(described.type).toBe('jobWorkflow');
    expect(described.taskQueue).toBe(temporal.taskQueue);
    expect(described.status.name).toBe('RUNNING');
    expect(described.typedSearchAttributes.get(EmethJobId)).toBe(job.id);
    expect(described.typedSearchAttributes.get(EmethRequester)).toBe(requester.address.toLowerCase());
    expect(described.typedSearchAttributes.get(EmethProgramId)).toBe(1);
    expect(described.typedSearchAttributes.get(EmethStatus)).toBe('submitted');

    // Rows the L2 worker would write, to see them in the view.
    await db.prisma.subJob.create({
      data: {
        id: '0x' + 'a'.repeat(64),
        jobId: job.id,
        index: 0,
        programId: 11,
        shard: '{}',
        rowStart: 0,
        rows: 5,
        fuelLimit: '60000',
        verifierFee: '0',
        status: 'running',
        nodeId: node.address.toLowerCase(),
        attempts: 1,
      },
    });
    const got = await call('GET', `/v1/jobs/${job.id}`, signed(requester));
    expect(got.status).toBe(200);
    expect(got.body.subJobs).toEqual([
      {
        index: 0,
        epoch: 0,
        status: 'running',
        nodeId: node.address.toLowerCase(),
        attempts: 1,
        rows: 5,
        fuelUsed: null,
      },
    ]);
    // No worker answers the query here: progress comes from the rows.
    expect(got.body.progress).toMatchObject({
      jobId: job.id,
      status: 'submitted',
      source: 'database',
      subJobs: { total: 1, running: 1 },
    });

    const second = await createJob({ numParallel: 1, capabilityClass: 'h100' });
    const page1 = await call('GET', '/v1/jobs?limit=1', signed(requester));
    expect(page1.status).toBe(200);
    expect(page1.body.jobs.map((j: Json) => j.id)).toEqual([second.id]);
    expect(page1.body.nextCursor).toEqual(expect.any(String));
    const page2 = await call('GET', `/v1/jobs?limit=1&cursor=${page1.body.nextCursor}`, signed(requester));
    expect(page2.body.jobs.map((j: Json) => j.id)).toEqual([job.id]);
    const filtered = await call('GET', '/v1/jobs?status=submitted&programId=1&limit=100', signed(requester));
    expect(filtered.body.jobs.map((j: Json) => j.id)).toEqual(expect.arrayContaining([job.id, second.id]));
    const none = await call('GET', '/v1/jobs?status=completed', signed(requester));
    expect(none.body).toEqual({ jobs: [], nextCursor: null });
    const theirs = await call('GET', '/v1/jobs', signed(other));
    expect(theirs.body.jobs).toEqual([]);

    const cancel = await call('POST', `/v1/jobs/${job.id}/cancel`, signed(requester));
    expect(cancel.status).toBe(202);
    expect(cancel.body).toMatchObject({ id: job.id, cancelRequested: true });
    const history = await temporal.client.workflow.getHandle(job.workflowId).fetchHistory();
    expect(
      history.events?.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'cancel'),
    ).toBe(true);

    await db.prisma.job.update({ where: { id: job.id }, data: { status: 'cancelled' } });
    const again = await call('POST', `/v1/jobs/${job.id}/cancel`, signed(requester));
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/already ended \(cancelled\)/);
  });

  test('result: 409 until completed, then the result blob, readable by its requester', async () => {
    const job = await createJob();
    const early = await call('GET', `/v1/jobs/${job.id}/result`, signed(requester));
    expect(early.status).toBe(409);
    expect(early.body.message).toMatch(/is submitted/);

    const resultBytes = Buffer.from('aggregated output rows');
    const result = await store.put(resultBytes);
    await db.prisma.job.update({
      where: { id: job.id },
      data: { status: 'completed', result, charged: '1000', refunded: '5' },
    });
    await db.prisma.subJob.create({
      data: {
        id: '0x' + 'b'.repeat(64),
        jobId: job.id,
        index: 0,
        programId: 11,
        shard: '{}',
        rowStart: 0,
        rows: 7,
        fuelLimit: '1',
        verifierFee: '0',
        status: 'verified',
      },
    });
    const r = await call('GET', `/v1/jobs/${job.id}/result`, signed(requester));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      jobId: job.id,
      result,
      size: (await store.envelopes.get(result)).length,
      rows: 7,
      download: `/v1/blobs/${result}`,
    });
    expect(r.body.fees).toMatchObject({ charged: '1000', refunded: '5' });
    const bytes = await call('GET', `/v1/blobs/${result}`, signed(requester));
    expect(bytes.status).toBe(200);
    expect(Buffer.compare(bytes.body, resultBytes)).toBe(0);
    const notYours = await call('GET', `/v1/blobs/${result}`, signed(other));
    expect(notYours.status).toBe(403);
    // A completed Job is not queried: progress comes from its rows.
    const got = await call('GET', `/v1/jobs/${job.id}`, signed(requester));
    expect(got.body.progress).toMatchObject({
      status: 'completed',
      source: 'database',
      subJobs: { total: 1, verified: 1 },
    });
  });

  test('progress comes from the workflow query when a worker answers it', async () => {
    const job = await createJob();
    // The real jobWorkflow on the suite's queue. Its first activity is not registered here, so it
    // stays at 'submitted' and retries; its progress query is answered all the same.
    const got = await withWorker(
      temporal,
      { workflowsPath: require.resolve('../../workflows'), activities: {} },
      async () => {
        for (let i = 0; ; i++) {
          const r = await call('GET', `/v1/jobs/${job.id}`, signed(requester));
          if (r.body.progress.source === 'workflow' || i >= 20) return r;
        }
      },
    );
    expect(got.status).toBe(200);
    expect(got.body.progress).toEqual({
      jobId: job.id,
      status: 'submitted',
      subJobs: { total: 0, verified: 0, failed: 0, running: 0, waiting: 0 },
      fees: { reserved: '0', charged: '0', refunded: '0' },
      source: 'workflow',
    });
  });

  test('datasetBase64 is stored as a blob owned by the requester', async () => {
    const bytes = Buffer.from('inline dataset');
    const job = await createJob({ dataset: undefined, datasetBase64: bytes.toString('base64') });
    expect(Buffer.from(await store.envelopes.get(job.dataset)).includes(bytes)).toBe(false);
    expect(Buffer.from(await store.get(job.dataset)).toString()).toBe('inline dataset');
    const uploader = requester.address.toLowerCase();
    expect(
      await db.prisma.blob.findUniqueOrThrow({ where: { id_uploader: { id: job.dataset, uploader } } }),
    ).toMatchObject({ uploader });
  });
});

describe('API keys', () => {
  test('create with a signature, use as Bearer, list, revoke', async () => {
    const created = await call('POST', '/v1/api-keys', signed(requester, { body: { label: 'ci' } }));
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^emeth_/);
    expect(created.body).toMatchObject({
      requester: requester.address.toLowerCase(),
      label: 'ci',
      revokedAt: null,
    });
    const row = await db.prisma.apiKey.findUniqueOrThrow({ where: { id: created.body.id } });
    expect(row.keyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.keyHash).not.toContain(created.body.key);

    const listed = await call('GET', '/v1/jobs', { apiKey: created.body.key });
    expect(listed.status).toBe(200);
    expect(listed.body.jobs.length).toBeGreaterThan(0);
    expect(listed.body.jobs.every((j: Json) => j.requester === requester.address.toLowerCase())).toBe(true);
    // Several identical key-authenticated requests are fine: replay protection is for signatures.
    expect((await call('GET', '/v1/jobs', { apiKey: created.body.key })).status).toBe(200);

    const viaKey = await call('POST', '/v1/jobs', { apiKey: created.body.key, body: jobBody() });
    expect(viaKey.status).toBe(201);
    started.push(viaKey.body.workflowId);

    const mint = await call('POST', '/v1/api-keys', { apiKey: created.body.key, body: {} });
    expect(mint.status).toBe(401);
    expect(mint.body.message).toMatch(/wallet-signed requests only/);

    const keys = await call('GET', '/v1/api-keys', { apiKey: created.body.key });
    expect(keys.body.apiKeys.map((k: Json) => k.id)).toContain(created.body.id);
    expect(JSON.stringify(keys.body)).not.toContain(created.body.key);

    const foreign = await call('DELETE', `/v1/api-keys/${created.body.id}`, signed(other));
    expect(foreign.status).toBe(404);
    const revoked = await call('DELETE', `/v1/api-keys/${created.body.id}`, signed(requester));
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    const after = await call('GET', '/v1/jobs', { apiKey: created.body.key });
    expect(after.status).toBe(401);
    expect(after.body.message).toMatch(/revoked/);
  });
});

describe('blobs', () => {
  test('upload, download and HEAD by the uploader; others refused; verifiers, the L2 and assigned nodes allowed', async () => {
    const bytes = Buffer.from('a shard of someone');
    const id = await putBlob(requester, bytes);
    expect(await putBlob(requester, bytes)).toBe(id); // idempotent

    const mine = await call('GET', `/v1/blobs/${id}`, signed(requester));
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.compare(mine.body, bytes)).toBe(0);
    const head = await call('HEAD', `/v1/blobs/${id}`, signed(requester));
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String((await store.envelopes.get(id)).length));

    const theirs = await call('GET', `/v1/blobs/${id}`, signed(other));
    expect(theirs.status).toBe(403);
    expect(theirs.body.message).toContain(id);
    expect((await call('GET', `/v1/blobs/${id}`, signed(verifier))).status).toBe(200);
    expect((await call('GET', `/v1/blobs/${id}`, signed(l2))).status).toBe(200);

    // A node reads a shard only while it is registered and assigned to a SubJob that uses it.
    expect((await call('GET', `/v1/blobs/${id}`, signed(node))).status).toBe(403);
    await db.prisma.node.upsert({
      where: { id: node.address.toLowerCase() },
      create: { id: node.address.toLowerCase(), capabilityClass: 'cpu' },
      update: {},
    });
    const job = await createJob();
    await db.prisma.subJob.create({
      data: {
        id: '0x' + 'c'.repeat(64),
        jobId: job.id,
        index: 0,
        programId: 11,
        rowStart: 0,
        rows: 1,
        fuelLimit: '1',
        verifierFee: '0',
        shard: JSON.stringify({
          index: 0,
          blobId: id,
          rowStart: 0,
          rowEnd: 1,
          rows: 1,
          cols: 1,
          bytes: bytes.length,
        }),
        status: 'assigned',
        nodeId: node.address.toLowerCase(),
      },
    });
    // Nodes read sealed: the envelope and its data key wrapped to the node's registered X25519 key,
    // opened in the node's memory. Never as plaintext, and never to a key it did not register.
    const nodeKeys = sealingKeysOf(node.privateKey);
    const to = publicKeyHex(nodeKeys.x25519.publicKey);
    const plain = await call('GET', `/v1/blobs/${id}`, signed(node));
    expect(plain.status).toBe(403);
    expect(plain.body).toMatchObject({ error: 'to_required', field: 'to' });
    expect(Buffer.from(JSON.stringify(plain.body)).includes(bytes)).toBe(false);
    // A node row without a registered key gets nothing, whichever key it names.
    expect((await call('GET', `/v1/blobs/${id}?to=${to}`, signed(node))).status).toBe(403);
    await db.prisma.node.update({ where: { id: node.address.toLowerCase() }, data: { encryptionKey: to } });
    const sealedRead = await call('GET', `/v1/blobs/${id}?to=${to}`, signed(node));
    expect(sealedRead.status).toBe(200);
    expect(sealedRead.headers.get('content-type')).toBe(ENVELOPE_CONTENT_TYPE);
    expect(Buffer.from(sealedRead.body).includes(bytes)).toBe(false);
    const wrap = Buffer.from(sealedRead.headers.get(DATA_KEY_HEADER)!, 'base64');
    expect(Buffer.from(openBlob(sealedRead.body, nodeKeys.x25519, { wrap })).equals(bytes)).toBe(true);
    const elsewhere = publicKeyHex(sealingKeysOf(other.privateKey).x25519.publicKey);
    const refused = await call('GET', `/v1/blobs/${id}?to=${elsewhere}`, signed(node));
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain(`registered X25519 key ${to}`);
    expect((await call('GET', `/v1/blobs/${id}?to=xyz`, signed(node))).body).toMatchObject({ field: 'to' });
    // ... and the Job's model, through the same assignment.
    expect((await call('GET', `/v1/blobs/${modelId}?to=${to}`, signed(node))).status).toBe(200);
    expect((await call('GET', `/v1/blobs/${datasetId}?to=${to}`, signed(node))).status).toBe(403);

    const missing = await call('GET', `/v1/blobs/${'0'.repeat(64)}`, signed(verifier));
    expect(missing.status).toBe(404);
  });
});

describe('nodes', () => {
  test('register with stake, refresh, list, read; tickets for the node itself', async () => {
    const reg = await call('POST', '/v1/nodes', signed(node, { body: { capabilityClass: 'h100' } }));
    expect([200, 201]).toContain(reg.status); // the blob test may have created its row already
    expect(reg.body).toMatchObject({
      address: node.address.toLowerCase(),
      capabilityClass: 'h100',
      status: 'online',
      stake: (100n * EMETH).toString(),
    });
    const again = await call('POST', '/v1/nodes', signed(node, { body: { capabilityClass: 'h100' } }));
    expect(again.status).toBe(200);

    const list = await call('GET', '/v1/nodes', signed(requester));
    expect(list.body.nodes.map((n: Json) => n.address)).toContain(node.address.toLowerCase());
    const byClass = await call('GET', '/v1/nodes?capabilityClass=a100', signed(requester));
    expect(byClass.body.nodes).toEqual([]);
    const one = await call('GET', `/v1/nodes/${node.address}`, signed(requester));
    expect(one.status).toBe(200);
    expect(one.body.completed).toBe(0);
    expect((await call('GET', `/v1/nodes/${other.address}`, signed(requester))).status).toBe(404);

    const n = node.address.toLowerCase();
    await db.prisma.batch.create({
      data: {
        id: 1,
        root: '0x' + '1'.repeat(64),
        total: '300',
        signer: l2.address,
        signature: '0x' + '2'.repeat(130),
        ticketCount: 2,
      },
    });
    await db.prisma.ticket.createMany({
      data: [
        {
          id: '0x' + 'd'.repeat(64),
          jobId: '0x' + 'e'.repeat(64),
          subJobId: '0x' + 'f'.repeat(64),
          node: n,
          requester: requester.address.toLowerCase(),
          amount: '100',
          verifier: verifier.address,
          verifierFee: '5',
          batchId: 1,
          leafIndex: 0,
          proof: ['0x' + '3'.repeat(64)],
        },
        {
          id: '0x' + '4'.repeat(64),
          jobId: '0x' + 'e'.repeat(64),
          subJobId: '0x' + '5'.repeat(64),
          node: n,
          requester: requester.address.toLowerCase(),
          amount: '200',
          verifier: verifier.address,
          verifierFee: '10',
          batchId: 1,
          leafIndex: 1,
          proof: ['0x' + '6'.repeat(64)],
          redeemedAt: new Date(),
        },
        {
          id: '0x' + '7'.repeat(64),
          jobId: '0x' + 'e'.repeat(64),
          subJobId: '0x' + '8'.repeat(64),
          node: n,
          requester: requester.address.toLowerCase(),
          amount: '50',
          verifier: verifier.address,
          verifierFee: '2',
        },
      ],
    });
    const all = await call('GET', `/v1/nodes/${node.address}/tickets`, signed(node));
    expect(all.status).toBe(200);
    expect(all.body.tickets).toHaveLength(3);
    const open = await call('GET', `/v1/nodes/${node.address}/tickets?redeemed=false`, signed(node));
    expect(open.body.tickets.map((t: Json) => t.ticket.amount).sort()).toEqual(['100', '50']);
    const batched = open.body.tickets.find((t: Json) => t.ticket.amount === '100');
    expect(batched).toMatchObject({
      batch: { batchId: 1, total: '300' },
      leafIndex: 0,
      proof: ['0x' + '3'.repeat(64)],
      redeemedAt: null,
    });
    expect(open.body.tickets.find((t: Json) => t.ticket.amount === '50').batch).toBeNull();
    const done = await call('GET', `/v1/nodes/${node.address}/tickets?redeemed=true`, signed(node));
    expect(done.body.tickets.map((t: Json) => t.ticket.amount)).toEqual(['200']);

    // A SubJob's fee ticket names its node too, but pays the verifier: only the verifier reads and
    // redeems it, under its own address; the node's lists leave it out.
    const v = verifier.address.toLowerCase();
    await db.prisma.ticket.create({
      data: {
        id: '0x' + '9'.repeat(64),
        jobId: '0x' + 'e'.repeat(64),
        subJobId: '0x' + 'f'.repeat(64),
        role: 'verifier',
        node: n,
        requester: requester.address.toLowerCase(),
        amount: '0',
        verifier: v,
        verifierFee: '5',
        batchId: 1,
        leafIndex: 2,
        proof: ['0x' + 'a'.repeat(64)],
      },
    });
    const nodeView = await call('GET', `/v1/nodes/${node.address}/tickets`, signed(node));
    expect(nodeView.body.tickets.map((t: Json) => t.role)).toEqual(['node', 'node', 'node']);
    const fees = await call('GET', `/v1/nodes/${verifier.address}/tickets`, signed(verifier));
    expect(fees.status).toBe(200);
    expect(fees.body.tickets).toEqual([
      expect.objectContaining({
        role: 'verifier',
        ticket: expect.objectContaining({ node: n, amount: '0', verifier: v, verifierFee: '5' }),
        leafIndex: 2,
      }),
    ]);
    const theirs = await call('GET', `/v1/nodes/${verifier.address}/redemptions`, signed(verifier));
    expect(theirs.body.redemptions.map((r: Json) => [r.batch.batchId, r.indices])).toEqual([[1, [2]]]);
    expect(theirs.body.redemptions[0].tickets).toEqual([expect.objectContaining({ verifierFee: '5' })]);
    const nodes = await call('GET', `/v1/nodes/${node.address}/redemptions`, signed(node));
    expect(nodes.body.redemptions.map((r: Json) => r.indices)).toEqual([[0]]);
  });
});

describe('bad inputs: exact 4xx with a message naming the problem, never 5xx', () => {
  interface Case {
    name: string;
    run: () => Promise<Reply>;
    status: number;
    message: RegExp;
    field?: string;
  }
  const postJob =
    (over: Record<string, unknown>, signer = requester) =>
    () =>
      call('POST', '/v1/jobs', signed(signer, { body: jobBody(over) }));

  const cases: Case[] = [
    {
      name: 'missing numParallel',
      run: postJob({ numParallel: undefined }),
      status: 400,
      message: /numParallel is required/,
      field: 'numParallel',
    },
    {
      name: 'numParallel of the wrong type',
      run: postJob({ numParallel: '4' }),
      status: 400,
      message: /numParallel must be an integer between 1 and 256; got "4"/,
      field: 'numParallel',
    },
    {
      name: 'numParallel too large',
      run: postJob({ numParallel: 1000 }),
      status: 400,
      message: /numParallel must be an integer between 1 and 256/,
      field: 'numParallel',
    },
    {
      name: 'numParallel zero',
      run: postJob({ numParallel: 0 }),
      status: 400,
      message: /numParallel must be an integer between 1 and 256/,
      field: 'numParallel',
    },
    {
      name: 'huge fuelLimit',
      run: postJob({ fuelLimit: '1' + '0'.repeat(31) }),
      status: 400,
      message: /fuelLimit must be a decimal string of an integer between 1 and 10\^30/,
      field: 'fuelLimit',
    },
    {
      name: 'fuelLimit as a number',
      run: postJob({ fuelLimit: 120000 }),
      status: 400,
      message: /fuelLimit must be a decimal string/,
      field: 'fuelLimit',
    },
    {
      name: 'negative fuelPrice',
      run: postJob({ fuelPrice: '-5' }),
      status: 400,
      message: /fuelPrice must be a decimal string/,
      field: 'fuelPrice',
    },
    {
      name: 'missing programId',
      run: postJob({ programId: undefined }),
      status: 400,
      message: /programId is required/,
      field: 'programId',
    },
    {
      name: 'unknown program',
      run: postJob({ programId: 99 }),
      status: 400,
      message: /programId 99 is not an active program; active: 1 \(onnx-inference\)/,
      field: 'programId',
    },
    {
      name: 'inactive program',
      run: postJob({ programId: RETIRED_PROGRAM }),
      status: 400,
      message: new RegExp(`programId ${RETIRED_PROGRAM} is not an active program`),
      field: 'programId',
    },
    {
      name: 'a SubJob program',
      run: postJob({ programId: 11 }),
      status: 400,
      message: /programId 11 .* is a SubJob program/,
      field: 'programId',
    },
    {
      name: 'fee below the program minimum',
      run: postJob({ fuelPrice: '999' }),
      status: 400,
      message: /fuelPrice 999 is below the minimum of onnx-inference: 1000000000 holon per fuel/,
      field: 'fuelPrice',
    },
    {
      name: 'deposit too small',
      run: postJob({ fuelLimit: '1' + '0'.repeat(12) }),
      status: 402,
      message:
        /free deposit of 0x[0-9a-f]{40} is \d+ holon \(.* EMETH\) but this Job needs 126000000000000000000000 holon \(126000 EMETH\).*deposit at least/,
    },
    {
      name: 'unknown dataset blob',
      run: postJob({ dataset: 'f'.repeat(64) }),
      status: 400,
      message: /dataset f{64} is not in EMETH Storage/,
      field: 'dataset',
    },
    {
      name: 'dataset that is not a blob id',
      run: postJob({ dataset: 'not-a-hash' }),
      status: 400,
      message: /dataset must be a blob id/,
      field: 'dataset',
    },
    {
      name: 'somebody else’s blob as dataset',
      run: postJob({}, other),
      status: 403,
      message: /dataset [0-9a-f]{64} was uploaded by someone else/,
      field: 'dataset',
    },
    {
      name: 'missing model for onnx-inference',
      run: postJob({ model: undefined }),
      status: 400,
      message: /model is required for onnx-inference/,
      field: 'model',
    },
    {
      name: 'both dataset and datasetBase64',
      run: postJob({ datasetBase64: 'AAAA' }),
      status: 400,
      message: /exactly one of dataset .* and datasetBase64/,
      field: 'dataset',
    },
    {
      name: 'no deadline',
      run: postJob({ deadlineSeconds: undefined }),
      status: 400,
      message: /exactly one of deadline .* and deadlineSeconds/,
      field: 'deadline',
    },
    {
      name: 'deadline in the past',
      run: postJob({ deadlineSeconds: undefined, deadline: '2001-01-01T00:00:00Z' }),
      status: 400,
      message: /deadline 2001-01-01T00:00:00.000Z is not in the future/,
      field: 'deadline',
    },
    {
      name: 'deadline beyond 30 days',
      run: postJob({ deadlineSeconds: 31 * 86400 }),
      status: 400,
      message: /deadlineSeconds must be an integer between 1 and 2592000/,
      field: 'deadlineSeconds',
    },
    {
      name: 'deadline that is not ISO-8601',
      run: postJob({ deadlineSeconds: undefined, deadline: 'tomorrow' }),
      status: 400,
      message: /deadline must be an ISO-8601 date-time/,
      field: 'deadline',
    },
    {
      name: 'splitAllowed false with numParallel 2',
      run: postJob({ splitAllowed: false }),
      status: 400,
      message: /numParallel must be 1 when splitAllowed is false/,
      field: 'numParallel',
    },
    {
      name: 'capabilityClass with bad characters',
      run: postJob({ capabilityClass: 'GPU/../x' }),
      status: 400,
      message: /capabilityClass must be a capability class/,
      field: 'capabilityClass',
    },
    {
      name: 'unknown field',
      run: postJob({ fuellimit: '5' }),
      status: 400,
      message: /unknown field "fuellimit"; allowed: programId/,
      field: 'fuellimit',
    },
    {
      name: 'body is an array',
      run: () => call('POST', '/v1/jobs', signed(requester, { body: [1, 2] })),
      status: 400,
      message: /the body must be a JSON object, got an array/,
    },
    {
      name: 'malformed JSON',
      run: () =>
        call(
          'POST',
          '/v1/jobs',
          signed(requester, { raw: '{"programId": 1,', headers: { 'content-type': 'application/json' } }),
        ),
      status: 400,
      message: /the body is not valid JSON/,
    },
    {
      name: 'empty body',
      run: () => call('POST', '/v1/jobs', signed(requester)),
      status: 400,
      message: /the body is empty/,
    },
    {
      name: 'oversize JSON body',
      run: () =>
        call(
          'POST',
          '/v1/jobs',
          signed(requester, {
            raw: Buffer.alloc(25 * 1024 * 1024, 0x20),
            headers: { 'content-type': 'application/json' },
          }),
        ),
      status: 413,
      message: /larger than this route's limit of 25165824 bytes/,
    },
    {
      name: 'oversize blob',
      run: () =>
        call(
          'PUT',
          '/v1/blobs',
          signed(requester, {
            raw: Buffer.alloc(64 * 1024 * 1024 + 1),
            headers: { 'content-type': 'application/octet-stream' },
          }),
        ),
      status: 413,
      message: /larger than this route's limit of 67108864 bytes/,
    },
    {
      name: 'no authentication',
      run: () => call('GET', '/v1/jobs'),
      status: 401,
      message:
        /sign the request \(x-emeth-address, x-emeth-timestamp, x-emeth-signature\) or send Authorization: Bearer/,
    },
    {
      name: 'signature over another body (tampered)',
      run: () => call('POST', '/v1/jobs', signed(requester, { body: jobBody(), signBody: '{}' })),
      status: 401,
      message: /signature was not made by 0x[0-9a-fA-F]{40} over this method, path, body and timestamp/,
    },
    {
      name: 'signature over another path',
      run: () => call('GET', '/v1/jobs', signed(requester, { signPath: '/v1/nodes' })),
      status: 401,
      message: /was not made by/,
    },
    {
      name: 'garbage signature',
      run: () =>
        call('GET', '/v1/jobs', {
          headers: {
            'x-emeth-address': requester.address,
            'x-emeth-timestamp': String(Math.floor(clock / 1000)),
            'x-emeth-signature': '0x1234',
          },
        }),
      status: 401,
      message: /x-emeth-signature is not a valid signature/,
    },
    {
      name: 'address that is not an address',
      run: () =>
        call('GET', '/v1/jobs', {
          headers: { 'x-emeth-address': 'alice', 'x-emeth-timestamp': '1', 'x-emeth-signature': '0x12' },
        }),
      status: 401,
      message: /x-emeth-address is not an EVM address/,
    },
    {
      name: 'expired timestamp',
      run: () => call('GET', '/v1/jobs', signed(requester, { timestamp: Math.floor(clock / 1000) - 3600 })),
      status: 401,
      message: /x-emeth-timestamp is more than 300 s from the gateway's clock/,
    },
    {
      name: 'unknown API key',
      run: () => call('GET', '/v1/jobs', { apiKey: 'emeth_nope' }),
      status: 401,
      message: /this API key is unknown/,
    },
    {
      name: 'API key without the emeth_ prefix',
      run: () => call('GET', '/v1/jobs', { apiKey: 'sk_live_123' }),
      status: 401,
      message: /an EMETH API key starts with "emeth_"/,
    },
    {
      name: 'another requester reading a Job',
      run: async () => call('GET', `/v1/jobs/${(await createJob()).id}`, signed(other)),
      status: 403,
      message: /belongs to another requester/,
    },
    {
      name: 'another requester cancelling a Job',
      run: async () => call('POST', `/v1/jobs/${(await createJob()).id}/cancel`, signed(other)),
      status: 403,
      message: /belongs to another requester/,
    },
    {
      name: 'a Job id that is not one',
      run: () => call('GET', '/v1/jobs/123', signed(requester)),
      status: 400,
      message: /"123" is not a Job id/,
      field: 'id',
    },
    {
      name: 'a Job that does not exist',
      run: () => call('GET', `/v1/jobs/0x${'9'.repeat(64)}`, signed(requester)),
      status: 404,
      message: /no Job 0x9{64}/,
    },
    {
      name: 'limit 0',
      run: () => call('GET', '/v1/jobs?limit=0', signed(requester)),
      status: 400,
      message: /limit must be an integer between 1 and 100; got "0"/,
      field: 'limit',
    },
    {
      name: 'unknown query parameter',
      run: () => call('GET', '/v1/jobs?sort=asc', signed(requester)),
      status: 400,
      message: /unknown query parameter "sort"/,
      field: 'sort',
    },
    {
      name: 'unknown status filter',
      run: () => call('GET', '/v1/jobs?status=done', signed(requester)),
      status: 400,
      message: /status must be one of submitted, reserved/,
      field: 'status',
    },
    {
      name: 'forged cursor',
      run: () => call('GET', '/v1/jobs?cursor=abc', signed(requester)),
      status: 400,
      message: /cursor is not a nextCursor this API returned/,
      field: 'cursor',
    },
    {
      name: 'node without stake',
      run: () => call('POST', '/v1/nodes', signed(unstaked, { body: { capabilityClass: 'cpu' } })),
      status: 403,
      message: /has no stake on EmethCore: register and stake on EmethCore first/,
    },
    {
      name: 'node registration without capabilityClass',
      run: () => call('POST', '/v1/nodes', signed(node, { body: {} })),
      status: 400,
      message: /capabilityClass is required/,
      field: 'capabilityClass',
    },
    {
      name: 'node registration with an API key',
      run: () => call('POST', '/v1/nodes', { apiKey: 'emeth_whatever', body: { capabilityClass: 'cpu' } }),
      status: 401,
      message: /accepts wallet-signed requests only/,
    },
    {
      name: 'reading another node’s tickets',
      run: () => call('GET', `/v1/nodes/${node.address}/tickets`, signed(requester)),
      status: 403,
      message: /only node 0x[0-9a-f]{40} itself may read its tickets/,
    },
    {
      name: 'redeemed filter that is not a boolean',
      run: () => call('GET', `/v1/nodes/${node.address}/tickets?redeemed=maybe`, signed(node)),
      status: 400,
      message: /redeemed must be true or false/,
      field: 'redeemed',
    },
    {
      name: 'a node address that is not one',
      run: () => call('GET', '/v1/nodes/0x12', signed(requester)),
      status: 400,
      message: /address must be an EVM address/,
      field: 'address',
    },
    {
      name: 'a blob id that is not one',
      run: () => call('GET', '/v1/blobs/XYZ', signed(requester)),
      status: 400,
      message: /"XYZ" is not a blob id/,
      field: 'id',
    },
    {
      name: 'empty blob upload',
      run: () => call('PUT', '/v1/blobs', signed(requester)),
      status: 400,
      message: /the body is empty; PUT the blob bytes/,
    },
    {
      name: 'API key label too long',
      run: () => call('POST', '/v1/api-keys', signed(requester, { body: { label: 'x'.repeat(101) } })),
      status: 400,
      message: /label must be a string of 1 to 100 characters/,
      field: 'label',
    },
    {
      name: 'unknown route',
      run: () => call('GET', '/v1/nothing-here', signed(requester)),
      status: 404,
      message: /no route for GET \/v1\/nothing-here/,
    },
  ];

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await c.run();
    expect(r.status).toBeLessThan(500);
    expect({ status: r.status, message: r.body.message }).toEqual({
      status: c.status,
      message: expect.stringMatching(c.message),
    });
    expect(typeof r.body.error).toBe('string');
    if (c.field) expect(r.body.field).toBe(c.field);
  });

  test('a replayed signed request is refused, and a nonce makes a repeat a new request', async () => {
    clock += 1000;
    const ts = Math.floor(clock / 1000);
    const headers = await signRequest(requester, 'GET', '/v1/jobs', '', ts, stack.scope);
    const first = await call('GET', '/v1/jobs', { headers });
    expect(first.status).toBe(200);
    const replay = await call('GET', '/v1/jobs', { headers });
    expect(replay.status).toBe(401);
    expect(replay.body).toMatchObject({
      error: 'signature_replayed',
      message: expect.stringMatching(/already accepted once \(replayed x-emeth-signature\)/),
    });
    const withNonce = await call('GET', '/v1/jobs?nonce=2', {
      headers: await signRequest(requester, 'GET', '/v1/jobs?nonce=2', '', ts, stack.scope),
    });
    expect(withNonce.status).toBe(200);
  });

  test('refused submissions leave no Job rows or workflows behind', async () => {
    const before = await db.prisma.job.count();
    await postJob({ fuelPrice: '1' })();
    await postJob({ fuelLimit: '1' + '0'.repeat(12) })();
    expect(await db.prisma.job.count()).toBe(before);
  });
});

test('every response of this suite matched the OpenAPI document', () => {
  // checkResponse throws inside call(); this records how much was covered.
  expect(checkedResponses.length).toBeGreaterThan(80);
  const statuses = new Set(checkedResponses.map((c) => c.split(' ').pop()));
  for (const s of ['200', '201', '202', '400', '401', '402', '403', '404', '409', '413'])
    expect(statuses).toContain(s);
});
