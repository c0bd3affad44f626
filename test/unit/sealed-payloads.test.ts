import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { x25519FromSeed } from '../../lib/envelope';
import { L2PayloadCodec, ParticipantPayloadCodec, SEALED_ENCODING } from '../../lib/sealed-payloads';
import { sealTo } from '../../lib/pipeline';
import { DECRYPTION_GRID, openSealedValues, sealValuesFor } from '../../activities/keyholder';

const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');
const l2 = x25519FromSeed(randomBytes(32));
const node = x25519FromSeed(randomBytes(32));
const stranger = x25519FromSeed(randomBytes(32));
const keyring = { current: 'k1', keys: { k1: randomBytes(32) } };
const l2Codec = new L2PayloadCodec(keyring, l2);
const nodeCodec = new ParticipantPayloadCodec(node, l2.publicKey);
const strangerCodec = new ParticipantPayloadCodec(stranger, l2.publicKey);
const text = (p: Payload) => Buffer.from(p.metadata!.encoding!).toString();
const task = { jobId: '0xabc', shard: { blobId: 'f'.repeat(64) }, secret: 'marker-7777' };

describe('payloads between the L2 and a participant hold no shared secret', () => {
  it('a task the workflow seals to a node opens for that node alone, and holds no plaintext', async () => {
    const [sealed] = await l2Codec.encode([
      defaultPayloadConverter.toPayload(sealTo([hex(node.publicKey)], task)),
    ]);
    expect(text(sealed!)).toBe(SEALED_ENCODING);
    expect(Buffer.from(sealed!.data!).includes('marker-7777')).toBe(false);
    const [opened] = await nodeCodec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual(task);
    await expect(strangerCodec.decode([sealed!])).rejects.toThrow(/holds no data key for X25519 key/);
    // The L2 is always a recipient too: the operator can audit the history.
    expect(defaultPayloadConverter.fromPayload((await l2Codec.decode([sealed!]))[0]!)).toEqual(task);
  });

  it('what a node sends is sealed to the L2 only', async () => {
    const [sent] = await nodeCodec.encode([
      defaultPayloadConverter.toPayload({ output: 'result', secret: 'marker-7777' }),
    ]);
    expect(text(sent!)).toBe(SEALED_ENCODING);
    expect(Buffer.from(sent!.data!).includes('marker-7777')).toBe(false);
    expect(defaultPayloadConverter.fromPayload((await l2Codec.decode([sent!]))[0]!)).toEqual({
      output: 'result',
      secret: 'marker-7777',
    });
    await expect(strangerCodec.decode([sent!])).rejects.toThrow(/holds no data key/);
  });

  it('a participant refuses operator-side payloads: it holds no keyring', async () => {
    const [operatorOnly] = await l2Codec.encode([defaultPayloadConverter.toPayload({ jobId: '0xabc' })]);
    expect(text(operatorOnly!)).toBe('binary/encrypted');
    await expect(nodeCodec.decode([operatorOnly!])).rejects.toThrow(/participants never hold/);
  });

  it("the keyholder's decrypted values open for the verifiers only, rounded to the grid", () => {
    const verifier = x25519FromSeed(randomBytes(32));
    const values = [0.123456789123, -3.5e-7, 1.0000001];
    const sealed = sealValuesFor(values, [hex(verifier.publicKey)]);
    const opened = Array.from(openSealedValues(sealed, verifier));
    opened.forEach((v, i) => {
      expect(Math.abs(v - values[i]!)).toBeLessThanOrEqual(DECRYPTION_GRID / 2);
      expect(Number.isInteger(v / DECRYPTION_GRID)).toBe(true);
    });
    expect(() => openSealedValues(sealed, l2)).toThrow(/holds no data key/);
  });
});
