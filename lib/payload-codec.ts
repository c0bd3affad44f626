/**
 * The Temporal payload codec (DESIGN §3, §6): every payload a client or worker sends to Temporal is
 * sealed with AES-256-GCM, so the Temporal server, its database and a UI without the codec endpoint
 * see ciphertext only.
 *
 * An encrypted payload carries metadata `encoding: binary/encrypted` and `encryption-key-id: <id>`;
 * its data is iv (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes) of the whole original Payload,
 * protobuf-serialized (metadata included, so even the original encoding is hidden). The key id is
 * also the GCM additional data: a payload relabelled with another key id fails its tag check.
 *
 * Rotation: add a new key to the keyring and make it current. Encode always uses the current key;
 * decode uses the key the payload names, so histories written under an old key stay readable as
 * long as that key stays in the keyring.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export interface CodecKeyring {
  /** Id of the key every new payload is encrypted with. */
  current: string;
  /** Every key this process can decrypt with, by id; each 32 bytes (AES-256). */
  keys: Record<string, Buffer>;
}

/** Throws unless the keyring is usable: a current key that exists, every key 32 bytes, sane ids. */
export function checkKeyring(keyring: CodecKeyring): void {
  const ids = Object.keys(keyring.keys);
  if (ids.length === 0) throw new Error('the codec keyring holds no keys');
  for (const id of ids) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
      throw new Error(`codec key id "${id}" must be 1-64 letters, digits, dots, dashes or underscores`);
    }
    const key = keyring.keys[id]!;
    if (key.length !== KEY_BYTES)
      throw new Error(`codec key ${id} must be ${KEY_BYTES} bytes (AES-256), got ${key.length}`);
  }
  if (!keyring.keys[keyring.current]) {
    throw new Error(
      `the current codec key ${keyring.current} is not in the keyring (it holds ${ids.join(', ')})`,
    );
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keyring: CodecKeyring;

  constructor(keyring: CodecKeyring) {
    checkKeyring(keyring);
    // A copy: later changes to the caller's object do not change what this codec encrypts with.
    this.keyring = { current: keyring.current, keys: { ...keyring.keys } };
  }

  get currentKeyId(): string {
    return this.keyring.current;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  encrypt(payload: Payload): Payload {
    const keyId = this.keyring.current;
    const key = this.keyring.keys[keyId]!;
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(keyId, 'utf8'));
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(keyId) },
      data: new Uint8Array(sealed),
    };
  }

  /** Payloads that are not `binary/encrypted` pass through untouched. */
  decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId)
      throw new Error(
        `an encrypted payload has no ${KEY_ID_METADATA} metadata: it was not written by this codec`,
      );
    const key = this.keyring.keys[keyId];
    if (!key) {
      throw new Error(
        `payload is encrypted with key ${keyId}, which this process does not have: add it to EMETH_CODEC_KEYS`,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new Error(`payload encrypted with key ${keyId} is truncated (${data.length} bytes)`);
    }
    const iv = data.subarray(0, IV_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const body = data.subarray(IV_BYTES, data.length - TAG_BYTES);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(tag);
      plain = Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw new Error(
        `payload encrypted with key ${keyId} failed its integrity check: the data was altered, or key ${keyId} here is not the key that encrypted it`,
      );
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}
