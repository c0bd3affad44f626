/**
 * Blob envelopes: how EMETH Storage keeps every blob (datasets, models, shards, results,
 * checkpoints) as ciphertext.
 *
 * Each blob is sealed with AES-256-GCM under its own 256-bit data key. The data key travels
 * wrapped to X25519 keys: inside the envelope, to the storage key of the L2 server (so it can
 * hand the blob on), and on the way to a reader, to that reader's key (a node, a verifier, a
 * keyholder), which opens the blob in memory. A wrap is ECIES: an ephemeral X25519 key agreement,
 * HKDF-SHA256, AES-256-GCM. Only node:crypto primitives are used.
 *
 * Layout (all lengths in bytes):
 *   "EMB1" | n (1) | n × wrap (88) | iv (12) | tag (16) | ciphertext
 *   wrap = keyId (8) | ephemeral public key (32) | wrapped data key (32) | tag (16)
 *
 * A sealer may pass a convergence secret: the data key, IV and ephemeral keys are then derived
 * from it and the plaintext's hash, so the same sealer sealing the same bytes gets the same
 * envelope (stable blob ids, idempotent retries). Equal envelopes reveal equal plaintexts only
 * among blobs of the same sealer, and only to whoever sees the stored bytes.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { EmethError } from './errors';

export const ENVELOPE_CONTENT_TYPE = 'application/vnd.emeth.envelope';
/** The response header a reader's wrapped data key comes in (base64 of one wrap). */
export const DATA_KEY_HEADER = 'x-emeth-data-key';

const MAGIC = Buffer.from('EMB1');
const KEY_ID_BYTES = 8;
const WRAP_BYTES = KEY_ID_BYTES + 32 + 32 + 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ZERO_IV = Buffer.alloc(IV_BYTES); // each wrap key (KEK) encrypts one data key only
// DER prefixes of raw X25519 keys (RFC 8410): node:crypto imports keys as PKCS#8 / SPKI.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export class EnvelopeError extends EmethError {
  constructor(message: string) {
    super('ENVELOPE', message);
  }
}

export interface X25519KeyPair {
  /** Raw 32-byte public key. */
  publicKey: Uint8Array;
  /** First 8 bytes of sha-256(publicKey), hex: how envelopes and errors name the key. */
  keyId: string;
  privateKey: KeyObject;
}

export function keyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest().subarray(0, KEY_ID_BYTES).toString('hex');
}

export function x25519FromSeed(seed: Uint8Array): X25519KeyPair {
  if (seed.length !== 32) throw new EnvelopeError(`an X25519 seed is 32 bytes, got ${seed.length}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(spki.length - 32));
  return { publicKey, keyId: keyIdOf(publicKey), privateKey };
}

/**
 * The X25519 key of a participant, derived from its secp256k1 private key (0x hex): one secret
 * to keep per node, verifier, keyholder and L2 server, and a public key it can publish anywhere.
 */
export function x25519FromWalletKey(privateKeyHex: string): X25519KeyPair {
  return x25519FromSeed(derive(privateKeyHex, 'emeth/x25519/v1'));
}

/** A participant's sealing keys: its X25519 key (it opens blobs with it) and its convergence secret. */
export interface SealingKeys {
  x25519: X25519KeyPair;
  convergence: Uint8Array;
}

export function sealingKeysOf(privateKeyHex: string): SealingKeys {
  return { x25519: x25519FromWalletKey(privateKeyHex), convergence: convergenceFromWalletKey(privateKeyHex) };
}

/** The convergence secret a participant seals its own blobs with (see the file comment). */
export function convergenceFromWalletKey(privateKeyHex: string): Uint8Array {
  return derive(privateKeyHex, 'emeth/convergence/v1');
}

function derive(privateKeyHex: string, info: string): Uint8Array {
  const ikm = Buffer.from(privateKeyHex.replace(/^0x/, ''), 'hex');
  if (ikm.length !== 32) throw new EnvelopeError('a wallet private key is 32 bytes of hex');
  return new Uint8Array(hkdfSync('sha256', ikm, 'emeth', info, 32));
}

export function parsePublicKey(hex: string, field = 'publicKey'): Uint8Array {
  const raw = hex.replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(raw)) {
    throw new EnvelopeError(
      `${field} must be a 32-byte X25519 public key in hex (64 characters), got "${hex.slice(0, 80)}"`,
    );
  }
  return new Uint8Array(Buffer.from(raw, 'hex'));
}

export const publicKeyHex = (k: Uint8Array): string => Buffer.from(k).toString('hex');

// ---------------------------------------------------------------------------------------------
// Wraps

interface Wrap {
  keyId: string;
  bytes: Buffer;
}

function kekOf(shared: Buffer, ephPub: Uint8Array, recipientPub: Uint8Array): Buffer {
  return Buffer.from(
    hkdfSync('sha256', shared, Buffer.concat([ephPub, recipientPub]), 'emeth/blob-key/v1', 32),
  );
}

/** Wraps a data key to a recipient's public key; `ephSeed` makes it deterministic. */
export function wrapDataKey(dataKey: Uint8Array, recipientPub: Uint8Array, ephSeed?: Uint8Array): Uint8Array {
  const eph = x25519FromSeed(ephSeed ?? randomBytes(32));
  const recipient = createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, recipientPub]),
    format: 'der',
    type: 'spki',
  });
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
  const keyId = Buffer.from(keyIdOf(recipientPub), 'hex');
  const cipher = createCipheriv('aes-256-gcm', kekOf(shared, eph.publicKey, recipientPub), ZERO_IV);
  cipher.setAAD(keyId);
  const wrapped = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return new Uint8Array(Buffer.concat([keyId, eph.publicKey, wrapped, cipher.getAuthTag()]));
}

/** The data key inside a wrap, opened with `keys`; the error names the key id on any mismatch. */
export function unwrapDataKey(wrap: Uint8Array, keys: X25519KeyPair): Buffer {
  const bytes = Buffer.from(wrap.buffer, wrap.byteOffset, wrap.byteLength);
  if (bytes.length !== WRAP_BYTES)
    throw new EnvelopeError(`a wrapped data key is ${WRAP_BYTES} bytes, got ${bytes.length}`);
  const keyId = bytes.subarray(0, KEY_ID_BYTES).toString('hex');
  if (keyId !== keys.keyId) {
    throw new EnvelopeError(
      `the data key is wrapped to X25519 key ${keyId}, not to this participant's key ${keys.keyId}`,
    );
  }
  const ephPub = bytes.subarray(KEY_ID_BYTES, KEY_ID_BYTES + 32);
  const eph = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, ephPub]), format: 'der', type: 'spki' });
  const shared = diffieHellman({ privateKey: keys.privateKey, publicKey: eph });
  try {
    const decipher = createDecipheriv('aes-256-gcm', kekOf(shared, ephPub, keys.publicKey), ZERO_IV);
    decipher.setAAD(bytes.subarray(0, KEY_ID_BYTES));
    decipher.setAuthTag(bytes.subarray(WRAP_BYTES - TAG_BYTES));
    return Buffer.concat([
      decipher.update(bytes.subarray(KEY_ID_BYTES + 32, WRAP_BYTES - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw new EnvelopeError(
      `the data key wrapped to X25519 key ${keyId} does not open: the wrap was altered or made for another key with the same id`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Envelopes

export interface SealOptions {
  /** Makes the envelope a function of (secret, plaintext): see the file comment. */
  convergence?: Uint8Array;
}

export function sealBlob(
  plaintext: Uint8Array,
  recipients: Uint8Array[],
  opts: SealOptions = {},
): Uint8Array {
  if (recipients.length === 0 || recipients.length > 255)
    throw new EnvelopeError('an envelope needs 1 to 255 recipients');
  const conv = opts.convergence;
  const digest = conv ? createHash('sha256').update(plaintext).digest() : undefined;
  const prf = (label: string, ...parts: Uint8Array[]) => {
    const h = createHmac('sha256', conv!).update(label).update(digest!);
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const dataKey = conv ? prf('dk') : randomBytes(32);
  const iv = conv ? prf('iv').subarray(0, IV_BYTES) : randomBytes(IV_BYTES);
  const wraps = recipients.map((r) => wrapDataKey(dataKey, r, conv ? prf('eph', r) : undefined));
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
  cipher.setAAD(MAGIC);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(
    Buffer.concat([MAGIC, Buffer.from([wraps.length]), ...wraps, iv, cipher.getAuthTag(), body]),
  );
}

interface ParsedEnvelope {
  wraps: Wrap[];
  iv: Buffer;
  tag: Buffer;
  body: Buffer;
}

export function isEnvelope(bytes: Uint8Array): boolean {
  try {
    parseEnvelope(bytes);
    return true;
  } catch {
    return false;
  }
}

function parseEnvelope(bytes: Uint8Array, what = 'blob'): ParsedEnvelope {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < MAGIC.length + 1 || !b.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new EnvelopeError(`${what} is not a sealed envelope (no EMB1 header)`);
  }
  const n = b[MAGIC.length]!;
  const headerEnd = MAGIC.length + 1 + n * WRAP_BYTES;
  if (n === 0 || b.length < headerEnd + IV_BYTES + TAG_BYTES)
    throw new EnvelopeError(`${what} is a truncated envelope`);
  const wraps: Wrap[] = [];
  for (let i = 0; i < n; i++) {
    const at = MAGIC.length + 1 + i * WRAP_BYTES;
    const w = b.subarray(at, at + WRAP_BYTES);
    wraps.push({ keyId: w.subarray(0, KEY_ID_BYTES).toString('hex'), bytes: w });
  }
  return {
    wraps,
    iv: b.subarray(headerEnd, headerEnd + IV_BYTES),
    tag: b.subarray(headerEnd + IV_BYTES, headerEnd + IV_BYTES + TAG_BYTES),
    body: b.subarray(headerEnd + IV_BYTES + TAG_BYTES),
  };
}

/** Key ids an envelope's data key is wrapped to. */
export function envelopeKeyIds(bytes: Uint8Array): string[] {
  return parseEnvelope(bytes).wraps.map((w) => w.keyId);
}

function wrapFor(env: ParsedEnvelope, keys: X25519KeyPair, what: string): Buffer {
  const wrap = env.wraps.find((w) => w.keyId === keys.keyId);
  if (!wrap) {
    throw new EnvelopeError(
      `${what} holds no data key for X25519 key ${keys.keyId} (it is wrapped to ${env.wraps.map((w) => w.keyId).join(', ')}); ` +
        'ask for it with this key, or seal it to this key',
    );
  }
  return wrap.bytes;
}

/**
 * Opens an envelope with `keys`, using `wrap` (a data key handed over separately, e.g. by the
 * gateway) or else the envelope's own wrap for that key.
 */
export function openBlob(
  bytes: Uint8Array,
  keys: X25519KeyPair,
  opts: { wrap?: Uint8Array; what?: string } = {},
): Uint8Array {
  const what = opts.what ?? 'blob';
  const env = parseEnvelope(bytes, what);
  const dataKey = unwrapDataKey(opts.wrap ?? wrapFor(env, keys, what), keys);
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, env.iv);
    decipher.setAAD(MAGIC);
    decipher.setAuthTag(env.tag);
    return new Uint8Array(Buffer.concat([decipher.update(env.body), decipher.final()]));
  } catch {
    throw new EnvelopeError(
      `${what} failed authentication (AES-256-GCM): its ciphertext was altered or truncated`,
    );
  }
}

/** The envelope's data key wrapped to another reader: what a holder of a wrap hands on. */
export function rewrapBlob(
  bytes: Uint8Array,
  holder: X25519KeyPair,
  readerPub: Uint8Array,
  what = 'blob',
): Uint8Array {
  const dataKey = unwrapDataKey(wrapFor(parseEnvelope(bytes, what), holder, what), holder);
  return wrapDataKey(dataKey, readerPub);
}
