import type { DataConverter } from '@temporalio/common';
import { AesGcmPayloadCodec, type CodecKeyring } from '../../lib/payload-codec';

/**
 * The data converter every EMETH Temporal client and worker uses: the default payload converter,
 * then AES-256-GCM on every payload (lib/payload-codec), so Temporal stores ciphertext only.
 * Failure messages and stack traces are moved into an encoded payload too (./failure-converter).
 */
export function dataConverter(keyring: CodecKeyring): DataConverter {
  return {
    payloadCodecs: [new AesGcmPayloadCodec(keyring)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
