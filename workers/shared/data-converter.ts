import type { DataConverter } from '@temporalio/common';
import type { X25519KeyPair } from '../../lib/envelope';
import { AesGcmPayloadCodec, type CodecKeyring } from '../../lib/payload-codec';
import { L2PayloadCodec, ParticipantPayloadCodec } from '../../lib/sealed-payloads';

/**
 * The operator side's data converter (the L2 worker, the gateway's client, operators' tools): the
 * default payload converter, then AES-256-GCM under the deployment keyring, except arguments the
 * workflow sealed to a participant (lib/sealed-payloads), so Temporal stores ciphertext only.
 * Failure messages and stack traces are moved into an encoded payload too (./failure-converter).
 */
export function l2DataConverter(keyring: CodecKeyring, l2Keys: X25519KeyPair): DataConverter {
  return {
    payloadCodecs: [new L2PayloadCodec(keyring, l2Keys)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}

/**
 * A participant's data converter: it holds no shared secret, opens what is sealed to its own key
 * and seals everything it sends (results, heartbeats, failure messages) to the L2's key.
 */
export function participantDataConverter(own: X25519KeyPair, l2PublicKey: Uint8Array): DataConverter {
  return {
    payloadCodecs: [new ParticipantPayloadCodec(own, l2PublicKey)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}

/**
 * A client that reads only keyring payloads: Job results, queries, the wiring check (tests and the
 * CLI). What the L2 sealed to participants stays closed to it.
 */
export function dataConverter(keyring: CodecKeyring): DataConverter {
  return {
    payloadCodecs: [new AesGcmPayloadCodec(keyring)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
