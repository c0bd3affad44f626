/**
 * Gateway and key hygiene (issue 9, item 5) against the real gateway (test/support/gateway-stack:
 * real PostgreSQL, Temporal, anvil, sealed blob store, HTTP on loopback):
 *  - a signature is accepted once, in its canonical spelling only, and only by the gateway and
 *    chain it names;
 *  - request bodies are read only after the caller is admitted, up to the route's own limit;
 *  - a node reads blobs only sealed to its registered key, and never a Job's held-out test set;
 *  - no credential reaches the request log, and every log file is 0600.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Signature, Wallet, verifyMessage, type HDNodeWallet } from 'ethers';
import { publicKeyHex, sealingKeysOf } from '../../lib/envelope';
import {
  AUTH_HEADERS,
  requestMessage,
  requestScope,
  signRequest,
  withNonce,
  type RequestScope,
} from '../../lib/request-auth';
import { MAX_BLOB_BYTES, MAX_JSON_BYTES, MAX_SMALL_JSON_BYTES } from '../../api/http';
import { spawnManaged } from '../../cli/stack/child';
import { startGatewayStack, type GatewayStack } from '../support/gateway-stack';

const requester = Wallet.createRandom();
const node = Wallet.createRandom();
const verifier = Wallet.createRandom();
const l2 = Wallet.createRandom();

let stack: GatewayStack;
let logDir: string;
let logFile: string;
/** Every API key and signature this suite sent: none may appear in a log. */
const secretsSent: string[] = [];

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  bytes: Buffer;
}

async function send(
  method: string,
  route: string,
  opts: {
    signer?: HDNodeWallet;
    scope?: RequestScope;
    apiKey?: string;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
): Promise<Reply> {
  const urlPath = withNonce(route);
  const raw = opts.body === undefined ? '' : JSON.stringify(opts.body);
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (raw) headers['content-type'] = 'application/json';
  if (opts.signer) {
    Object.assign(
      headers,
      await signRequest(opts.signer, method, urlPath, raw, undefined, opts.scope ?? stack.scope),
    );
    secretsSent.push(headers[AUTH_HEADERS.signature]!);
  }
  if (opts.apiKey) {
    headers.authorization = `Bearer ${opts.apiKey}`;
    secretsSent.push(opts.apiKey);
  }
  const res = await fetch(stack.base + urlPath, { method, headers, body: raw || undefined });
  const bytes = Buffer.from(await res.arrayBuffer());
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    body = undefined;
  }
  return { status: res.status, body, bytes };
}

/**
 * Sends only the headers of a request declaring `length` body bytes and waits for the answer. A
 * gateway that tried to read the body first would never answer (nothing more is sent), so an
 * answer proves the refusal came without reading.
 */
function headersOnly(method: string, route: string, length: number, headers: Record<string, string>) {
  return new Promise<{ status: number; body: Reply['body'] }>((resolve, reject) => {
    const url = new URL(stack.base + route);
    const req = http.request(
      {
        method,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        });
      },
    );
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** The spellings ethers' own verifyMessage accepts for one signature, the canonical one left out. */
function acceptedVariants(signature: string, message: string, address: string): string[] {
  const sig = Signature.from(signature);
  const rs = sig.r.slice(2) + sig.s.slice(2);
  const out = new Set<string>();
  for (const v of [sig.yParity, sig.yParity + 27]) out.add('0x' + rs + v.toString(16).padStart(2, '0'));
  out.add(sig.compactSerialized);
  for (const v of [...out]) {
    out.add('0x' + v.slice(2).toUpperCase());
    out.add(v.slice(0, 20) + v.slice(20).toUpperCase());
  }
  out.delete(signature);
  return [...out].filter((v) => {
    try {
      return verifyMessage(message, v) === address;
    } catch {
      return false;
    }
  });
}

beforeAll(async () => {
  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-hygiene-logs-'));
  logFile = path.join(logDir, 'gateway.log');
  // An older, world-readable log: opening it for the gateway narrows it to 0600.
  fs.writeFileSync(logFile, '', { mode: 0o644 });
  fs.chmodSync(logFile, 0o644);
  stack = await startGatewayStack({
    name: 'hygiene',
    now: () => Date.now(),
    verifiers: [verifier.address.toLowerCase()],
    l2Address: l2.address.toLowerCase(),
    logFile,
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  fs.rmSync(logDir, { recursive: true, force: true });
});

describe('signed requests', () => {
  test('a replay with any byte-variant of the signature is refused; so is a variant sent first', async () => {
    const urlPath = withNonce('/v1/jobs');
    const ts = Math.floor(Date.now() / 1000);
    const headers = await signRequest(requester, 'GET', urlPath, '', ts, stack.scope);
    const canonical = headers[AUTH_HEADERS.signature]!;
    const message = requestMessage(stack.scope, 'GET', urlPath, '', ts);
    const variants = acceptedVariants(canonical, message, requester.address);
    expect(variants.length).toBeGreaterThanOrEqual(8);

    // Before the canonical one was ever used: a variant is refused for its spelling.
    const early = await fetch(stack.base + urlPath, {
      headers: { ...headers, [AUTH_HEADERS.signature]: variants[0]! },
    });
    expect(early.status).toBe(401);
    expect(((await early.json()) as { error: string }).error).toBe('signature_non_canonical_signature');

    const first = await fetch(stack.base + urlPath, { headers });
    expect(first.status).toBe(200);
    for (const variant of [canonical, ...variants]) {
      const again = await fetch(stack.base + urlPath, {
        headers: { ...headers, [AUTH_HEADERS.signature]: variant },
      });
      expect(again.status).toBe(401);
      const { error } = (await again.json()) as { error: string };
      expect(['signature_replayed', 'signature_non_canonical_signature']).toContain(error);
    }
    secretsSent.push(canonical, ...variants);
  });

  test.each([
    ['another origin', () => requestScope(stack.base.replace('127.0.0.1', 'localhost'), stack.scope.chainId)],
    ['another port', () => requestScope('http://127.0.0.1:1', stack.scope.chainId)],
    ['another scheme', () => requestScope(stack.base.replace('http:', 'https:'), stack.scope.chainId)],
    ['another chain id', () => ({ ...stack.scope, chainId: stack.scope.chainId + 1 })],
  ])('a request signed for %s is refused', async (_what, scope) => {
    const r = await send('GET', '/v1/jobs', { signer: requester, scope: scope() });
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ error: 'signature_wrong_signer' });
    expect(r.body.message).toContain(stack.scope.origin);
    // The same request signed for this gateway passes.
    expect((await send('GET', '/v1/jobs', { signer: requester })).status).toBe(200);
  });
});

describe('request bodies are read after admission, up to the route limit', () => {
  let apiKey: string;
  beforeAll(async () => {
    const created = await send('POST', '/v1/api-keys', { signer: requester, body: { label: 'hygiene' } });
    expect(created.status).toBe(201);
    apiKey = created.body.key;
    secretsSent.push(apiKey);
  });

  test('an unauthenticated 1 GB body is refused (401) without being read', async () => {
    const r = await headersOnly('PUT', '/v1/blobs', 1 << 30, {});
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('unauthenticated');
  });

  test('an unknown API key or an expired signature with a big body: 401 without reading', async () => {
    const unknown = await headersOnly('POST', '/v1/jobs', 20 << 20, { authorization: 'Bearer emeth_nope' });
    expect(unknown).toMatchObject({ status: 401, body: { error: 'bad_api_key' } });
    const stale = await signRequest(
      requester,
      'PUT',
      '/v1/blobs',
      '',
      Math.floor(Date.now() / 1000) - 3600,
      stack.scope,
    );
    const expired = await headersOnly('PUT', '/v1/blobs', 20 << 20, stale);
    expect(expired).toMatchObject({ status: 401, body: { error: 'signature_expired' } });
  });

  test('a declared length over the route limit is refused (413) without being read', async () => {
    const blob = await headersOnly('PUT', '/v1/blobs', MAX_BLOB_BYTES + 1, {
      authorization: `Bearer ${apiKey}`,
    });
    expect(blob.status).toBe(413);
    expect(blob.body.message).toContain(String(MAX_BLOB_BYTES));
    const jobs = await headersOnly('POST', '/v1/jobs', MAX_JSON_BYTES + 1, {
      authorization: `Bearer ${apiKey}`,
    });
    expect(jobs.status).toBe(413);
    // A small JSON route: 64 KiB, whoever asks.
    const cancel = await headersOnly(
      'POST',
      `/v1/jobs/0x${'ab'.repeat(32)}/cancel`,
      MAX_SMALL_JSON_BYTES + 1,
      {
        authorization: `Bearer ${apiKey}`,
      },
    );
    expect(cancel.status).toBe(413);
    expect(cancel.body.message).toContain(String(MAX_SMALL_JSON_BYTES));
  });

  test('per-route limits: 100 KiB is too much for a small route, not for POST /v1/jobs', async () => {
    const filler = { label: 'x'.repeat(100 * 1024) };
    const small = await send('POST', '/v1/nodes', { signer: node, body: filler });
    expect(small.status).toBe(413);
    const jobs = await send('POST', '/v1/jobs', { apiKey, body: { ...filler } });
    expect(jobs.status).toBe(400); // read and parsed: refused for its content, not its size
    expect(jobs.body.error).not.toBe('body_too_large');
  });
});

describe('blob reads', () => {
  const nodeKeys = sealingKeysOf(node.privateKey);
  const to = publicKeyHex(nodeKeys.x25519.publicKey);
  let trainId: string;
  let testSetId: string;

  beforeAll(async () => {
    const put = async (bytes: Buffer) => {
      const urlPath = withNonce('/v1/blobs');
      const res = await fetch(stack.base + urlPath, {
        method: 'PUT',
        headers: {
          ...(await signRequest(requester, 'PUT', urlPath, bytes, undefined, stack.scope)),
          'content-type': 'application/octet-stream',
        },
        body: bytes,
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    trainId = await put(Buffer.from(`training rows ${randomBytes(8).toString('hex')}`));
    testSetId = await put(Buffer.from(`held-out rows ${randomBytes(8).toString('hex')}`));
    const jobId = '0x' + randomBytes(32).toString('hex');
    await stack.db.prisma.job.create({
      data: {
        id: jobId,
        workflowId: `hygiene-${jobId}`,
        requester: requester.address.toLowerCase(),
        programId: 3,
        dataset: trainId,
        params: { trainGraph: trainId, testSet: testSetId },
        numParallel: 1,
        capabilityClass: 'cpu',
        fuelLimit: '1',
        fuelPrice: '1',
        verifierFee: '0',
        deadline: new Date(Date.now() + 3600_000),
        status: 'running',
      },
    });
    await stack.db.prisma.node.create({
      data: { id: node.address.toLowerCase(), capabilityClass: 'cpu', encryptionKey: to },
    });
    await stack.db.prisma.subJob.create({
      data: {
        id: '0x' + randomBytes(32).toString('hex'),
        jobId,
        index: 0,
        programId: 4,
        shard: JSON.stringify({
          index: 0,
          blobId: trainId,
          rowStart: 0,
          rowEnd: 1,
          rows: 1,
          cols: 1,
          bytes: 1,
        }),
        rowStart: 0,
        rows: 1,
        fuelLimit: '1',
        verifierFee: '0',
        status: 'assigned',
        nodeId: node.address.toLowerCase(),
      },
    });
  });

  test('an assigned node reads its shard only sealed to its registered key', async () => {
    const plain = await send('GET', `/v1/blobs/${trainId}`, { signer: node });
    expect(plain.status).toBe(403);
    expect(plain.body).toMatchObject({ error: 'to_required', field: 'to' });
    const other = publicKeyHex(sealingKeysOf(Wallet.createRandom().privateKey).x25519.publicKey);
    expect((await send('GET', `/v1/blobs/${trainId}?to=${other}`, { signer: node })).status).toBe(403);
    expect((await send('GET', `/v1/blobs/${trainId}?to=${to}`, { signer: node })).status).toBe(200);
  });

  test('the held-out test set: its requester only; neither the assigned node nor a verifier', async () => {
    const byNode = await send('GET', `/v1/blobs/${testSetId}?to=${to}`, { signer: node });
    expect(byNode.status).toBe(403);
    expect(byNode.body.error).toBe('blob_forbidden');
    expect((await send('GET', `/v1/blobs/${testSetId}`, { signer: verifier })).status).toBe(403);
    expect((await send('HEAD', `/v1/blobs/${testSetId}`, { signer: node })).status).toBe(403);
    // The verifier still reads everything else, and the requester (its keyholder) the test set.
    expect((await send('GET', `/v1/blobs/${trainId}`, { signer: verifier })).status).toBe(200);
    const mine = await send('GET', `/v1/blobs/${testSetId}`, { signer: requester });
    expect(mine.status).toBe(200);
    expect(mine.bytes.toString()).toMatch(/^held-out rows /);
  });
});

describe('logs', () => {
  test('no API key or signature this suite sent appears in the gateway log, and the log is 0600', async () => {
    // A failing request logs too: an error line must not carry the credential either.
    await send('GET', '/v1/jobs/not-a-job', { apiKey: secretsSent.find((s) => s.startsWith('emeth_'))! });
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    expect(log).toContain('[redacted]');
    const apiKeys = secretsSent.filter((s) => s.startsWith('emeth_'));
    expect(apiKeys.length).toBeGreaterThan(0);
    for (const secret of secretsSent) expect(log).not.toContain(secret);
    expect(log.toLowerCase()).not.toContain(AUTH_HEADERS.signature + '":"0x');
    expect(fs.statSync(logFile).mode & 0o777).toBe(0o600);
  });

  test('spawnManaged creates a process log 0600 and narrows an existing one to 0600', async () => {
    const fresh = path.join(logDir, 'child-fresh.log');
    const old = path.join(logDir, 'child-old.log');
    fs.writeFileSync(old, 'earlier run\n', { mode: 0o644 });
    fs.chmodSync(old, 0o644);
    for (const file of [fresh, old]) {
      const proc = await spawnManaged({
        name: path.basename(file),
        command: process.execPath,
        args: ['-e', 'console.log("ready"); setTimeout(() => {}, 60000)'],
        logFile: file,
        ready: async (since) => since().includes('ready'),
      });
      await proc.stop('SIGTERM', 5000);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    }
  });
});
