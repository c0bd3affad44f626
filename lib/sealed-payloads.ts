/**
 * Payload codecs for a market between strangers (DESIGN §6): no participant holds a shared secret.
 *
 * - The L2 (and operators' tools) use `L2PayloadCodec`: what stays on the operator side is
 *   AES-256-GCM under the deployment keyring (lib/payload-codec); an argument the workflow marked
 *   with `sealTo` is sealed (lib/envelope) to that participant's registered X25519 key and to the
 *   L2's own, so the participant reads it and the operator can still audit the history.
 * - A participant (node, verifier, keyholder) uses `ParticipantPayloadCodec`: it opens what was
 *   sealed to its own key, seals everything it sends (results, heartbeats, failures) to the L2's
 *   key, and refuses keyring payloads, which it has no key for.
 *
 * Temporal sees envelopes only. Not workflow-safe (node:crypto).
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { isEnvelope, openBlob, parsePublicKey, sealBlob, type X25519KeyPair } from './envelope';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, type CodecKeyring } from './payload-codec';
import { SEAL_MARKER } from './pipeline/sealing';

export const SEALED_ENCODING = 'binary/sealed';
const MARKER_PREFIX = Buffer.from(`{"${SEAL_MARKER}":`);
const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b?: Uint8Array | null) => (b ? Buffer.from(b).toString('utf8') : undefined);

function sealPayload(p: Payload, recipients: Uint8Array[]): Payload {
  const plain = temporal.api.common.v1.Payload.encode(p).finish();
  return { metadata: { encoding: utf8(SEALED_ENCODING) }, data: sealBlob(plain, recipients) };
}

function openPayload(p: Payload, keys: X25519KeyPair): Payload {
  const data = p.data ?? new Uint8Array();
  if (!isEnvelope(data)) throw new Error('a binary/sealed payload does not hold an envelope');
  return temporal.api.common.v1.Payload.decode(openBlob(data, keys, { what: 'payload' }));
}

const isSealed = (p: Payload) => text(p.metadata?.encoding) === SEALED_ENCODING;

export class L2PayloadCodec implements PayloadCodec {
  private readonly keyring: AesGcmPayloadCodec;

  constructor(
    keyring: CodecKeyring,
    /** The L2's X25519 keys: it is a recipient of everything sealed, both ways. */
    private readonly own: X25519KeyPair,
  ) {
    this.keyring = new AesGcmPayloadCodec(keyring);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const marked = this.marked(p);
      if (!marked) return this.keyring.encrypt(p);
      const recipients = [...marked.recipients.map((k) => parsePublicKey(k, 'sealTo')), this.own.publicKey];
      const inner: Payload = {
        metadata: { encoding: utf8('json/plain') },
        data: utf8(JSON.stringify(marked.value)),
      };
      return sealPayload(inner, recipients);
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => (isSealed(p) ? openPayload(p, this.own) : this.keyring.decrypt(p)));
  }

  private marked(p: Payload): { recipients: string[]; value: unknown } | undefined {
    if (text(p.metadata?.encoding) !== 'json/plain' || !p.data) return undefined;
    const data = Buffer.from(p.data);
    if (data.length < MARKER_PREFIX.length || !data.subarray(0, MARKER_PREFIX.length).equals(MARKER_PREFIX)) {
      return undefined;
    }
    const parsed = JSON.parse(data.toString('utf8')) as { [SEAL_MARKER]: string[]; value: unknown };
    return { recipients: parsed[SEAL_MARKER], value: parsed.value };
  }
}

export class ParticipantPayloadCodec implements PayloadCodec {
  constructor(
    private readonly own: X25519KeyPair,
    /** The L2's X25519 public key (GET /v1/storage/key): everything this participant sends is sealed to it. */
    private readonly l2: Uint8Array,
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => sealPayload(p, [this.l2]));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (isSealed(p)) return openPayload(p, this.own);
      if (text(p.metadata?.encoding) === ENCRYPTED_ENCODING) {
        throw new Error(
          "this payload is encrypted with the operator's codec key, which participants never hold: the L2 must seal what it sends a participant to that participant's key",
        );
      }
      return p;
    });
  }
}
