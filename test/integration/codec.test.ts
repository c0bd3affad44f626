/**
 * The payload codec against the run's real Temporal server: a workflow whose every payload carries
 * a marker runs on a worker with the codec; the history read WITHOUT the codec holds the marker
 * nowhere and every payload in it is `binary/encrypted`; with the codec it all decodes. Then the
 * gateway's /codec endpoint (the Temporal UI's codec server) over real HTTP and a real database.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Client } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { createGateway } from '../../api/app';
import { apiKeyHash, newApiKey } from '../../api/auth';
import { createLocalBlobStore } from '../../activities/storage';
import { sealedBlobStore } from '../../activities/storage-sealed';
import { sealingKeysOf } from '../../lib/envelope';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../lib/payload-codec';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { startTestChain, type TestChain } from '../support/chain';
import { createL2Chain } from '../../activities/chain';
import { connectTestTemporal, testKeyring, withWorker, type TestTemporal } from '../support/temporal';
import { codecEchoWorkflow, secretQuery, type CodecActivities } from './codec-workflows';

const MARKER = `emeth-marker-${randomBytes(8).toString('hex')}`;
const UI = 'http://127.0.0.1:18233';
const OPERATOR_TOKEN = `op-${randomBytes(16).toString('hex')}`;

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');

/** Every Payload anywhere inside a decoded protobuf message. */
function payloadsIn(value: unknown, found: Payload[] = [], seen = new Set<unknown>()): Payload[] {
  if (value === null || typeof value !== 'object' || seen.has(value) || ArrayBuffer.isView(value))
    return found;
  seen.add(value);
  const v = value as Record<string, unknown>;
  if (
    v.metadata &&
    typeof v.metadata === 'object' &&
    ArrayBuffer.isView((v.metadata as Record<string, unknown>).encoding)
  ) {
    found.push(v as Payload);
    return found;
  }
  for (const child of Object.values(v)) payloadsIn(child, found, seen);
  return found;
}

let temporal: TestTemporal;
let db: TestDatabase;
let testChain: TestChain;
// The gateway reads the chain through the L2's adapter; /codec never does, but nothing here is faked.
let chain: ReturnType<typeof createL2Chain>;

beforeAll(async () => {
  [temporal, db, testChain] = await Promise.all([
    connectTestTemporal('codec'),
    createTestDatabase(),
    startTestChain(),
  ]);
  chain = createL2Chain(testChain.deployment.core, testChain.provider);
});
afterAll(async () => {
  await Promise.allSettled([temporal?.close(), db?.drop(), testChain?.stop()]);
});

describe('payload codec on a real Temporal server', () => {
  const workflowId = `codec-${randomUUID()}`;
  let rawHistory: proto.api.history.v1.IHistory;

  const activities: CodecActivities = {
    async echo(secret) {
      return `echo:${secret}`;
    },
    async refuse(secret) {
      throw ApplicationFailure.nonRetryable(`refused ${secret}`);
    },
  };

  beforeAll(async () => {
    const result = await withWorker(
      temporal,
      { workflowsPath: require.resolve('./codec-workflows'), activities },
      async () => {
        const handle = await temporal.client.workflow.start(codecEchoWorkflow, {
          taskQueue: temporal.taskQueue,
          workflowId,
          args: [{ secret: MARKER }],
        });
        const out = await handle.result();
        // The query answer goes through the codec too (it is not in the history, but on the wire).
        expect(await handle.query(secretQuery)).toBe(`query:${MARKER}`);
        return out;
      },
    );
    // With the codec everything decodes, the failure message included.
    expect(result).toEqual({ echoed: `echo:${MARKER}`, refusal: `refused ${MARKER}` });
    // A client WITHOUT the codec, on the same server: what the server (and a UI without the codec endpoint) sees.
    const bare = new Client({ connection: temporal.client.connection });
    rawHistory = await bare.workflow.getHandle(workflowId).fetchHistory();
  });

  it('the raw history holds the marker nowhere', () => {
    const bytes = Buffer.from(proto.api.history.v1.History.encode(rawHistory).finish());
    expect(rawHistory.events!.length).toBeGreaterThan(5);
    expect(bytes.includes(Buffer.from(MARKER))).toBe(false);
    expect(bytes.includes(Buffer.from(MARKER.slice(6)))).toBe(false);
    for (const p of payloadsIn(rawHistory)) {
      expect(Buffer.from(p.data ?? []).includes(Buffer.from(MARKER))).toBe(false);
    }
  });

  it('every payload in the raw history is binary/encrypted with the run key id', () => {
    const payloads = payloadsIn(rawHistory);
    // input, activity inputs (2), activity result, activity failure attributes, workflow result
    expect(payloads.length).toBeGreaterThanOrEqual(6);
    for (const p of payloads) {
      expect(text(p.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
      expect(text(p.metadata![KEY_ID_METADATA])).toBe(testKeyring().current);
    }
    const failed = rawHistory.events!.find((e) => e.activityTaskFailedEventAttributes);
    expect(failed?.activityTaskFailedEventAttributes?.failure?.message).not.toContain(MARKER);
  });

  it('with the codec the raw payloads decode to the originals', async () => {
    const started = rawHistory.events![0]!.workflowExecutionStartedEventAttributes!;
    const codec = new AesGcmPayloadCodec(testKeyring());
    const [input] = await codec.decode(started.input!.payloads as Payload[]);
    expect(defaultPayloadConverter.fromPayload(input!)).toEqual({ secret: MARKER });
  });

  it('a process without the key gets an error naming the key id', async () => {
    const started = rawHistory.events![0]!.workflowExecutionStartedEventAttributes!;
    const stranger = new AesGcmPayloadCodec({ current: 'other', keys: { other: randomBytes(32) } });
    await expect(stranger.decode(started.input!.payloads as Payload[])).rejects.toThrow(
      `payload is encrypted with key ${testKeyring().current}, which this process does not have: add it to EMETH_CODEC_KEYS`,
    );
  });

  describe('the gateway /codec endpoint', () => {
    let server: http.Server;
    let base: string;
    let storeDir: string;
    let apiKey: string;

    /** The gateway as the L2 server builds it, with the codec on; `auth` picks how /codec is unlocked. */
    const codecGateway = (auth: { codecToken?: string; codecAllowLoopback?: boolean }) =>
      createGateway({
        logger: pino({ level: 'silent' }),
        health: async () => ({ status: 'up', parts: {}, checkedAt: new Date().toISOString() }) as never,
        prisma: db.prisma,
        store: sealedBlobStore(createLocalBlobStore(storeDir), sealingKeysOf('0x' + '11'.repeat(32))),
        temporal: temporal.client,
        chain,
        temporalUiUrl: `${UI}/`,
        namespace: 'default',
        verifiers: [],
        l2Address: '',
        codec: new AesGcmPayloadCodec(testKeyring()),
        requestScope: { origin: 'http://127.0.0.1', chainId: 31337 },
        ...auth,
      });

    beforeAll(async () => {
      storeDir = await mkdtemp(path.join(os.tmpdir(), 'emeth-codec-'));
      apiKey = newApiKey();
      await db.prisma.apiKey.create({
        data: {
          id: randomUUID(),
          requester: '0x' + '11'.repeat(20),
          keyHash: apiKeyHash(apiKey),
          label: 'codec test',
        },
      });
      server = http.createServer(codecGateway({ codecToken: OPERATOR_TOKEN }));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      await rm(storeDir, { recursive: true, force: true });
    });

    const rawInput = () =>
      rawHistory.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const toJson = (p: Payload) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
      ),
      data: Buffer.from(p.data ?? []).toString('base64'),
    });
    const post = (route: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base}/codec/${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: UI, 'x-namespace': 'default', ...headers },
        body: JSON.stringify(body),
      });

    it('answers 401 without a token or with a wrong one, with CORS so the UI can read why', async () => {
      const attempts: Record<string, string>[] = [
        {},
        { authorization: 'Bearer not-the-operator-token' },
        { authorization: 'Basic abc' },
      ];
      for (const headers of attempts) {
        const res = await post('decode', { payloads: [toJson(rawInput() as Payload)] }, headers);
        expect(res.status).toBe(401);
        expect(res.headers.get('access-control-allow-origin')).toBe(UI);
        const body = (await res.json()) as { error: string; message: string };
        expect(body.message).toBeTruthy();
        expect(JSON.stringify(body)).not.toContain(MARKER);
      }
    });

    it('on the embedded stack (gateway on loopback) the UI decodes without a token', async () => {
      const local = http.createServer(codecGateway({ codecAllowLoopback: true }));
      await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
      try {
        const res = await fetch(`http://127.0.0.1:${(local.address() as AddressInfo).port}/codec/decode`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: UI },
          body: JSON.stringify({ payloads: [toJson(rawInput() as Payload)] }),
        });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { payloads: { data: string }[] };
        expect(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString())).toEqual({
          secret: MARKER,
        });
      } finally {
        await new Promise<void>((resolve) => local.close(() => resolve()));
      }
    });

    it("refuses a requester's valid API key (403): decoding opens every party's payloads", async () => {
      const res = await post(
        'decode',
        { payloads: [toJson(rawInput() as Payload)] },
        { authorization: `Bearer ${apiKey}` },
      );
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBe(UI);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ error: 'operator_only' });
      expect(text).not.toContain(MARKER);
    });

    it('refuses an API key even on the embedded loopback gateway, and a signed request', async () => {
      const local = http.createServer(codecGateway({ codecAllowLoopback: true }));
      await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(local.address() as AddressInfo).port}/codec/decode`;
        const attempts: Record<string, string>[] = [
          { authorization: `Bearer ${apiKey}` },
          {
            'x-emeth-address': '0x' + '11'.repeat(20),
            'x-emeth-signature': '0x00',
            'x-emeth-timestamp': '1',
          },
        ];
        for (const headers of attempts) {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', origin: UI, ...headers },
            body: JSON.stringify({ payloads: [toJson(rawInput() as Payload)] }),
          });
          expect(res.status).toBe(403);
          expect(await res.text()).not.toContain(MARKER);
        }
      } finally {
        await new Promise<void>((resolve) => local.close(() => resolve()));
      }
    });

    it('decodes a raw history payload for the operator token, with CORS for the UI origin', async () => {
      const res = await post(
        'decode',
        { payloads: [toJson(rawInput() as Payload)] },
        { authorization: `Bearer ${OPERATOR_TOKEN}` },
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(UI);
      expect(res.headers.get('access-control-allow-credentials')).toBe('true');
      const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      expect(body.payloads).toHaveLength(1);
      const p = body.payloads[0]!;
      expect(Buffer.from(p.metadata.encoding!, 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(p.data, 'base64').toString())).toEqual({ secret: MARKER });
    });

    it('accepts the operator token, the /codec/<namespace>/ form, and round-trips encode → decode', async () => {
      const original = toJson(defaultPayloadConverter.toPayload({ hello: MARKER }));
      const auth = { authorization: `Bearer ${OPERATOR_TOKEN}` };
      const enc = await post('default/encode', { payloads: [original] }, auth);
      expect(enc.status).toBe(200);
      const encoded = (
        (await enc.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }
      ).payloads;
      expect(Buffer.from(encoded[0]!.metadata.encoding!, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
      expect(Buffer.from(encoded[0]!.data, 'base64').includes(Buffer.from(MARKER))).toBe(false);
      const dec = await post('decode', { payloads: encoded }, auth);
      expect(dec.status).toBe(200);
      expect(((await dec.json()) as { payloads: unknown[] }).payloads).toEqual([original]);
    });

    it('answers the CORS preflight with 204 and the headers the UI sends', async () => {
      const res = await fetch(`${base}/codec/decode`, {
        method: 'OPTIONS',
        headers: {
          origin: UI,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization,x-namespace',
        },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(UI);
      expect(res.headers.get('access-control-allow-credentials')).toBe('true');
      expect(res.headers.get('access-control-allow-headers')).toBe(
        'Content-Type, Authorization, X-Namespace',
      );
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    });

    it('a payload under an unknown key is a 400 naming the key id; a malformed body is a 400', async () => {
      const [foreign] = await new AesGcmPayloadCodec({
        current: 'k-elsewhere',
        keys: { 'k-elsewhere': randomBytes(32) },
      }).encode([defaultPayloadConverter.toPayload('x')]);
      const auth = { authorization: `Bearer ${OPERATOR_TOKEN}` };
      const res = await post('decode', { payloads: [toJson(foreign!)] }, auth);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toContain('key k-elsewhere');
      expect((await post('decode', { nope: true }, auth)).status).toBe(400);
      expect((await post('decode', { payloads: [{ metadata: { encoding: '***' } }] }, auth)).status).toBe(
        400,
      );
    });
  });
});
