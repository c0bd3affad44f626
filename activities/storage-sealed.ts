/**
 * EMETH Storage as the L2 server sees it: every blob on disk is an envelope (lib/envelope) sealed
 * to the storage key, an X25519 key derived from the L2 key. Programs put and get plaintext
 * through this store and never notice; the files hold ciphertext only.
 */
import { openBlob, rewrapBlob, sealBlob, type SealingKeys, type X25519KeyPair } from '../lib/envelope';
import type { BlobId, BlobStore } from './storage';

export interface SealedBlobStore extends BlobStore {
  /** The envelopes as stored: what the gateway serves to readers that open blobs themselves. */
  readonly envelopes: BlobStore;
  readonly storageKey: X25519KeyPair;
  /** Stores an envelope sealed elsewhere; it must open under the storage key (checked). */
  putEnvelope(envelope: Uint8Array): Promise<BlobId>;
  /** The data key of a stored envelope (as `envelopes.get` returned it) wrapped to a reader's X25519 key. */
  dataKeyFor(id: BlobId, envelope: Uint8Array, readerPublicKey: Uint8Array): Uint8Array;
}

export function sealedBlobStore(inner: BlobStore, keys: SealingKeys): SealedBlobStore {
  const { x25519: storageKey, convergence } = keys;
  const what = (id: BlobId) => `blob ${id}`;
  return {
    envelopes: inner,
    storageKey,
    put: (bytes) => inner.put(sealBlob(bytes, [storageKey.publicKey], { convergence })),
    async get(id) {
      return openBlob(await inner.get(id), storageKey, { what: what(id) });
    },
    has: (id) => inner.has(id),
    size: (id) => inner.size(id),
    async putEnvelope(envelope) {
      openBlob(envelope, storageKey, { what: 'the uploaded envelope' }); // refuse what we could not hand on
      return inner.put(envelope);
    },
    dataKeyFor(id, envelope, readerPublicKey) {
      return rewrapBlob(envelope, storageKey, readerPublicKey, what(id));
    },
  };
}
