import { randomBytes } from 'node:crypto';
import {
  EnvelopeError,
  convergenceFromWalletKey,
  envelopeKeyIds,
  openBlob,
  rewrapBlob,
  sealBlob,
  x25519FromWalletKey,
} from '../../lib/envelope';

const walletKey = () => '0x' + randomBytes(32).toString('hex');

describe('blob envelopes (AES-256-GCM, data key wrapped to X25519 keys)', () => {
  const storage = x25519FromWalletKey(walletKey());
  const node = x25519FromWalletKey(walletKey());
  const marker = Buffer.from('MARKER-dataset-row-7f3a9c');
  const plaintext = Buffer.concat([randomBytes(1000), marker, randomBytes(1000)]);

  it('seals to a recipient and opens with its key; the ciphertext does not contain the plaintext', () => {
    const env = sealBlob(plaintext, [storage.publicKey]);
    expect(Buffer.from(env).includes(marker)).toBe(false);
    expect(envelopeKeyIds(env)).toEqual([storage.keyId]);
    expect(Buffer.from(openBlob(env, storage)).equals(plaintext)).toBe(true);
  });

  it('derives the same X25519 key from the same wallet key, and another from another', () => {
    const k = walletKey();
    expect(x25519FromWalletKey(k).keyId).toBe(x25519FromWalletKey(k).keyId);
    expect(x25519FromWalletKey(k).keyId).not.toBe(x25519FromWalletKey(walletKey()).keyId);
  });

  it('is deterministic under a convergence secret and random without one', () => {
    const conv = convergenceFromWalletKey(walletKey());
    const a = sealBlob(plaintext, [storage.publicKey], { convergence: conv });
    const b = sealBlob(plaintext, [storage.publicKey], { convergence: conv });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(sealBlob(plaintext, [storage.publicKey])).equals(Buffer.from(a))).toBe(false);
    expect(Buffer.from(openBlob(a, storage)).equals(plaintext)).toBe(true);
  });

  it('hands the data key on: the holder rewraps it to a reader, who opens the envelope in memory', () => {
    const env = sealBlob(plaintext, [storage.publicKey]);
    const wrap = rewrapBlob(env, storage, node.publicKey);
    expect(Buffer.from(openBlob(env, node, { wrap })).equals(plaintext)).toBe(true);
  });

  it('names the key id when the key is wrong or missing', () => {
    const env = sealBlob(plaintext, [storage.publicKey]);
    expect(() => openBlob(env, node)).toThrow(
      new RegExp(`no data key for X25519 key ${node.keyId}.*wrapped to ${storage.keyId}`),
    );
    const wrapForNode = rewrapBlob(env, storage, node.publicKey);
    expect(() => openBlob(env, storage, { wrap: wrapForNode })).toThrow(
      new RegExp(`wrapped to X25519 key ${node.keyId}`),
    );
  });

  it('rejects a flipped byte in the ciphertext, the tag, or a wrap, and a truncated envelope', () => {
    const env = sealBlob(plaintext, [storage.publicKey]);
    const flip = (at: number) => {
      const t = Uint8Array.from(env);
      t[at] = t[at]! ^ 0x01;
      return t;
    };
    expect(() => openBlob(flip(env.length - 10), storage)).toThrow(/failed authentication/);
    expect(() => openBlob(flip(5 + 88 + 12 + 3), storage)).toThrow(/failed authentication/); // the GCM tag
    expect(() => openBlob(flip(5 + 8 + 40), storage)).toThrow(
      new RegExp(`wrapped to X25519 key ${storage.keyId} does not open`),
    );
    expect(() => openBlob(env.subarray(0, 50), storage)).toThrow(/truncated/);
    expect(() => openBlob(Buffer.from('plain bytes'), storage)).toThrow(EnvelopeError);
  });
});
