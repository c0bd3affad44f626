import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  type CodecKeyring,
} from '../../lib/payload-codec';
import { loadConfig } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { loadKeyring, parseCodecKeys } from '../../workers/shared/codec-keys';

const MARKER = 'EMETH-SECRET-MARKER-7f3a9c';
const k1 = randomBytes(32);
const k2 = randomBytes(32);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const json = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);

describe('AesGcmPayloadCodec', () => {
  const codec = new AesGcmPayloadCodec({ current: 'k1', keys: { k1 } });

  it('round-trips payloads, metadata included', async () => {
    const originals = [json({ secret: MARKER, n: 42 }), json(null), json('x'.repeat(10_000)), json([])];
    const encoded = await codec.encode(originals);
    expect(encoded).toHaveLength(originals.length);
    const decoded = await codec.decode(encoded);
    for (let i = 0; i < originals.length; i++) {
      expect(text(decoded[i]!.data)).toBe(text(originals[i]!.data));
      expect(text(decoded[i]!.metadata!.encoding)).toBe(text(originals[i]!.metadata!.encoding));
      expect(defaultPayloadConverter.fromPayload(decoded[i]!)).toEqual(
        defaultPayloadConverter.fromPayload(originals[i]!),
      );
    }
  });

  it('marks every payload binary/encrypted with the key id, and no plaintext survives', async () => {
    const [p] = await codec.encode([json({ secret: MARKER })]);
    expect(text(p!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(p!.metadata![KEY_ID_METADATA])).toBe('k1');
    expect(Object.keys(p!.metadata!).sort()).toEqual(['encoding', KEY_ID_METADATA].sort());
    const raw = Buffer.from(p!.data!);
    expect(raw.includes(Buffer.from(MARKER))).toBe(false);
    expect(raw.includes(Buffer.from('json/plain'))).toBe(false);
    // iv (12) + at least the marker's length of ciphertext + tag (16)
    expect(raw.length).toBeGreaterThan(12 + MARKER.length + 16);
  });

  it('uses a fresh iv each time: equal inputs give different ciphertexts', async () => {
    const [a, b] = await codec.encode([json(MARKER), json(MARKER)]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('passes payloads without the encrypted encoding through untouched', async () => {
    const plain = json({ hello: 'world' });
    const [out] = await codec.decode([plain]);
    expect(out).toBe(plain);
  });

  it('rotation: a payload written with k1 still decodes after k2 becomes current', async () => {
    const [old] = await codec.encode([json({ secret: MARKER })]);
    const rotated = new AesGcmPayloadCodec({ current: 'k2', keys: { k1, k2 } });
    const [fresh] = await rotated.encode([json('new')]);
    expect(text(fresh!.metadata![KEY_ID_METADATA])).toBe('k2');
    const [a, b] = await rotated.decode([old!, fresh!]);
    expect(defaultPayloadConverter.fromPayload(a!)).toEqual({ secret: MARKER });
    expect(defaultPayloadConverter.fromPayload(b!)).toBe('new');
  });

  it('an unknown key id fails with an error naming it and EMETH_CODEC_KEYS', async () => {
    const [p] = await new AesGcmPayloadCodec({ current: 'k2', keys: { k2 } }).encode([json(MARKER)]);
    await expect(codec.decode([p!])).rejects.toThrow(
      'payload is encrypted with key k2, which this process does not have: add it to EMETH_CODEC_KEYS',
    );
  });

  it('tampered data fails the integrity check, naming the key id', async () => {
    const [p] = await codec.encode([json({ secret: MARKER })]);
    const data = Buffer.from(p!.data!);
    data[20] = data[20]! ^ 0xff;
    await expect(codec.decode([{ ...p!, data: new Uint8Array(data) }])).rejects.toThrow(
      /key k1 failed its integrity check/,
    );
  });

  it('a key of the same id but different bytes fails naming the key id', async () => {
    const [p] = await codec.encode([json(MARKER)]);
    const other = new AesGcmPayloadCodec({ current: 'k1', keys: { k1: randomBytes(32) } });
    await expect(other.decode([p!])).rejects.toThrow(/key k1/);
  });

  it('a payload relabelled with another key id fails (the key id is authenticated)', async () => {
    const both = new AesGcmPayloadCodec({ current: 'k1', keys: { k1, k2: k1 } });
    const [p] = await both.encode([json(MARKER)]);
    const relabelled = { ...p!, metadata: { ...p!.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
    await expect(both.decode([relabelled])).rejects.toThrow(/key k2 failed its integrity check/);
  });

  it('refuses unusable keyrings', () => {
    expect(() => new AesGcmPayloadCodec({ current: 'k1', keys: { k1: randomBytes(16) } })).toThrow(
      /32 bytes/,
    );
    expect(() => new AesGcmPayloadCodec({ current: 'k9', keys: { k1 } })).toThrow(/k9 is not in the keyring/);
    expect(() => new AesGcmPayloadCodec({ current: 'k1', keys: {} } as CodecKeyring)).toThrow(/no keys/);
  });
});

describe('codec keyring loading', () => {
  const b64 = (b: Buffer) => b.toString('base64');

  it('parses EMETH_CODEC_KEYS; the first key is current unless EMETH_CODEC_KEY_ID names another', () => {
    const spec = `k1:${b64(k1)}, k2:${b64(k2)}`;
    const a = parseCodecKeys(spec);
    expect(a.current).toBe('k1');
    expect(a.keys.k1!.equals(k1)).toBe(true);
    expect(a.keys.k2!.equals(k2)).toBe(true);
    expect(parseCodecKeys(spec, 'k2').current).toBe('k2');
    expect(
      loadKeyring(
        loadConfig({ EMETH_CODEC_KEYS: spec, EMETH_CODEC_KEY_ID: 'k2', EMETH_TEMPORAL_ADDRESS: 't:7233' }),
      ).current,
    ).toBe('k2');
  });

  it.each([
    ['k1', /id1:base64key/],
    [`k1:${randomBytes(16).toString('base64')}`, /key k1 must be 32 bytes/],
    ['k1:not base64!', /key k1 is not base64/],
    [
      `k1:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`,
      /names key k1 twice/,
    ],
  ])('rejects EMETH_CODEC_KEYS=%s with a ConfigError', (spec, message) => {
    let caught: unknown;
    try {
      parseCodecKeys(spec);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe('EMETH_CODEC_KEYS');
    expect((caught as Error).message).toMatch(message);
  });

  it('EMETH_CODEC_KEY_ID naming a missing key is an error naming it', () => {
    expect(() => parseCodecKeys(`k1:${b64(k1)}`, 'k7')).toThrow(/EMETH_CODEC_KEY_ID names key k7/);
  });

  it('on the embedded stack creates <EMETH_HOME>/codec-keys.json once (mode 0600) and reuses it', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-codec-'));
    try {
      const config = loadConfig({ EMETH_HOME: home });
      expect(config.codec.keyFile).toBe(path.join(home, 'codec-keys.json'));
      const first = loadKeyring(config);
      expect(first.current).toBe('k1');
      expect(first.keys.k1).toHaveLength(32);
      expect(fs.statSync(config.codec.keyFile).mode & 0o777).toBe(0o600);
      const again = loadKeyring(config);
      expect(again.keys.k1!.equals(first.keys.k1!)).toBe(true);
      expect(fs.readdirSync(home)).toEqual(['codec-keys.json']);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('against an external Temporal, EMETH_CODEC_KEYS is required', () => {
    const config = loadConfig({
      EMETH_TEMPORAL_ADDRESS: 'temporal.internal:7233',
      EMETH_HOME: '/nonexistent-emeth-home',
    });
    expect(() => loadKeyring(config)).toThrow(/EMETH_CODEC_KEYS is required/);
  });
});
