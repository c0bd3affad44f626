/**
 * Byte formats around SEAL's own serialization, so that what crosses process boundaries says what
 * it is, which key it belongs to, and whether it arrived whole. Pure: no SEAL, no I/O.
 *
 * Ciphertext bundle (one encrypted vector of any length, split over ⌈length / slots⌉ ciphertexts):
 *
 *   offset 0  4 bytes   magic "EMCK"
 *          4  u16 LE    version (1)
 *          6  u16 LE    reserved (0)
 *          8  u32 LE    count: number of SEAL ciphertexts
 *         12  u32 LE    length: number of encrypted values
 *         16  8 bytes   key id (see keyIdOf)
 *         24  32 bytes  sha-256 of everything after the header
 *         56  count × (u32 LE byte length, SEAL ciphertext bytes)
 *
 * Secret key wrapper (what generateKeys hands the keyholder):
 *
 *   offset 0  4 bytes   magic "EMSK"
 *          4  u16 LE    version (1)
 *          6  u16 LE    reserved (0)
 *          8  8 bytes   key id of the matching public key
 *         16  SEAL secret key bytes
 *
 * The public key is SEAL's bytes as generateKeys returned them; its key id is the first 8 bytes of
 * their sha-256. CKKS decryption with a wrong key does not fail, it returns noise — the key id is
 * what turns that into an error. The body digest does the same for damaged bytes, which SEAL would
 * often load without complaint (most coefficient bits are free to flip).
 */
import { createHash } from 'node:crypto';
import { EmethError } from '../../lib/errors';

export const BUNDLE_MAGIC = 'EMCK';
export const SECRET_KEY_MAGIC = 'EMSK';
export const FORMAT_VERSION = 1;
export const KEY_ID_BYTES = 8;
export const BUNDLE_HEADER_BYTES = 56;
export const SECRET_KEY_HEADER_BYTES = 16;
const DIGEST_OFFSET = 24;

/** A ciphertext bundle's header, and views of its SEAL ciphertexts (no copies). */
export interface ParsedBundle {
  count: number;
  length: number;
  /** Hex, 16 characters. */
  keyId: string;
  /** Hex sha-256 of the body: equal for byte-identical bundles. */
  digest: string;
  ciphertexts: Uint8Array[];
}

export interface ParsedSecretKey {
  keyId: string;
  sealBytes: Uint8Array;
}

export class CkksFormatError extends EmethError {
  constructor(message: string) {
    super('CKKS_FORMAT', message);
  }
}

/** The key id of a public key: hex of the first 8 bytes of sha-256 over its bytes. */
export function keyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest().subarray(0, KEY_ID_BYTES).toString('hex');
}

export function encodeBundle(keyId: string, length: number, ciphertexts: readonly Uint8Array[]): Uint8Array {
  checkU32('length', length);
  checkU32('count', ciphertexts.length);
  const bodyBytes = ciphertexts.reduce((n, c) => n + 4 + c.byteLength, 0);
  const out = new Uint8Array(BUNDLE_HEADER_BYTES + bodyBytes);
  const view = new DataView(out.buffer);
  writeMagic(out, BUNDLE_MAGIC);
  view.setUint16(4, FORMAT_VERSION, true);
  view.setUint32(8, ciphertexts.length, true);
  view.setUint32(12, length, true);
  out.set(keyIdBytes(keyId), 16);
  let offset = BUNDLE_HEADER_BYTES;
  for (const c of ciphertexts) {
    view.setUint32(offset, c.byteLength, true);
    out.set(c, offset + 4);
    offset += 4 + c.byteLength;
  }
  out.set(sha256(out.subarray(BUNDLE_HEADER_BYTES)), DIGEST_OFFSET);
  return out;
}

/**
 * Checks the header, the digest and the framing of a bundle; `what` names it in errors
 * (e.g. "part 3 of weightedSum"). Does not touch SEAL: the ciphertexts are only sliced out.
 */
export function parseBundle(bytes: Uint8Array, slots: number, what = 'ciphertext'): ParsedBundle {
  if (bytes.byteLength < BUNDLE_HEADER_BYTES) {
    throw new CkksFormatError(
      `${what} is ${bytes.byteLength} bytes, shorter than the ${BUNDLE_HEADER_BYTES}-byte EMETH CKKS header ` +
        `(truncated, or not a ciphertext from Ckks.encrypt/weightedSum)`,
    );
  }
  checkMagic(bytes, BUNDLE_MAGIC, what, 'a CKKS ciphertext from Ckks.encrypt or weightedSum');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkVersion(view.getUint16(4, true), what);
  const count = view.getUint32(8, true);
  const length = view.getUint32(12, true);
  const keyId = hex(bytes.subarray(16, 16 + KEY_ID_BYTES));
  const expectedCount = Math.ceil(length / slots);
  if (count !== expectedCount) {
    throw new CkksFormatError(
      `${what} header says ${count} ciphertexts for ${length} values, but ${length} values need ` +
        `${expectedCount} of ${slots} slots; the header was damaged`,
    );
  }
  const digest = sha256(bytes.subarray(BUNDLE_HEADER_BYTES));
  if (!equalBytes(digest, bytes.subarray(DIGEST_OFFSET, DIGEST_OFFSET + 32))) {
    throw new CkksFormatError(
      `${what} is damaged: its body (${bytes.byteLength - BUNDLE_HEADER_BYTES} bytes) does not match the ` +
        `sha-256 in its header (truncated or altered in transit); fetch or produce it again`,
    );
  }
  const ciphertexts: Uint8Array[] = [];
  let offset = BUNDLE_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > bytes.byteLength) {
      throw new CkksFormatError(`${what} ends inside the length of ciphertext ${i} of ${count}`);
    }
    const n = view.getUint32(offset, true);
    if (offset + 4 + n > bytes.byteLength) {
      throw new CkksFormatError(
        `${what}: ciphertext ${i} of ${count} claims ${n} bytes but only ${bytes.byteLength - offset - 4} remain`,
      );
    }
    ciphertexts.push(bytes.subarray(offset + 4, offset + 4 + n));
    offset += 4 + n;
  }
  if (offset !== bytes.byteLength) {
    throw new CkksFormatError(
      `${what} has ${bytes.byteLength - offset} bytes after its ${count} ciphertexts`,
    );
  }
  return { count, length, keyId, digest: hex(digest), ciphertexts };
}

/** Reads only the fixed header (no digest check): for callers that need the shape cheaply. */
export function readBundleHeader(bytes: Uint8Array): { count: number; length: number; keyId: string } {
  if (bytes.byteLength < BUNDLE_HEADER_BYTES) {
    throw new CkksFormatError(`${bytes.byteLength} bytes is shorter than the EMETH CKKS header`);
  }
  checkMagic(bytes, BUNDLE_MAGIC, 'ciphertext', 'a CKKS ciphertext from Ckks.encrypt or weightedSum');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  checkVersion(view.getUint16(4, true), 'ciphertext');
  return {
    count: view.getUint32(8, true),
    length: view.getUint32(12, true),
    keyId: hex(bytes.subarray(16, 16 + KEY_ID_BYTES)),
  };
}

export function encodeSecretKey(keyId: string, sealBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(SECRET_KEY_HEADER_BYTES + sealBytes.byteLength);
  writeMagic(out, SECRET_KEY_MAGIC);
  new DataView(out.buffer).setUint16(4, FORMAT_VERSION, true);
  out.set(keyIdBytes(keyId), 8);
  out.set(sealBytes, SECRET_KEY_HEADER_BYTES);
  return out;
}

export function parseSecretKey(bytes: Uint8Array): ParsedSecretKey {
  if (bytes.byteLength <= SECRET_KEY_HEADER_BYTES) {
    throw new CkksFormatError(
      `secret key is ${bytes.byteLength} bytes, too short for an EMETH CKKS secret key; pass the ` +
        `secretKey that Ckks.generateKeys returned`,
    );
  }
  checkMagic(bytes, SECRET_KEY_MAGIC, 'secret key', 'the secretKey that Ckks.generateKeys returned');
  checkVersion(new DataView(bytes.buffer, bytes.byteOffset, 8).getUint16(4, true), 'secret key');
  return {
    keyId: hex(bytes.subarray(8, 8 + KEY_ID_BYTES)),
    sealBytes: bytes.subarray(SECRET_KEY_HEADER_BYTES),
  };
}

function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function keyIdBytes(keyId: string): Uint8Array {
  if (!/^[0-9a-f]{16}$/.test(keyId))
    throw new CkksFormatError(`key id must be 16 hex characters, got "${keyId}"`);
  return Buffer.from(keyId, 'hex');
}

function writeMagic(out: Uint8Array, magic: string): void {
  for (let i = 0; i < 4; i++) out[i] = magic.charCodeAt(i);
}

function checkMagic(bytes: Uint8Array, magic: string, what: string, expected: string): void {
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== magic.charCodeAt(i)) {
      throw new CkksFormatError(`${what} does not start with "${magic}": it is not ${expected}`);
    }
  }
}

function checkVersion(version: number, what: string): void {
  if (version !== FORMAT_VERSION) {
    throw new CkksFormatError(
      `${what} has format version ${version}; this build reads version ${FORMAT_VERSION}`,
    );
  }
}

function checkU32(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new CkksFormatError(`${what} must be an integer in [0, 2^32), got ${n}`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
