import type { Signer } from 'ethers';
import {
  DATA_KEY_HEADER,
  ENVELOPE_CONTENT_TYPE,
  openBlob,
  parsePublicKey,
  publicKeyHex,
  sealBlob,
  type SealingKeys,
} from '../lib/envelope';
import { signRequest, withNonce } from '../lib/request-auth';
import { BlobCorruptError, BlobNotFoundError, blobIdOf, type BlobId, type BlobStore } from './storage';

/** The L2's X25519 public key (`GET /v1/storage/key`): uploads and a participant's payloads are sealed to it. */
export async function fetchStorageKey(gatewayUrl: string): Promise<Uint8Array> {
  const res = await fetch(`${gatewayUrl.replace(/\/$/, '')}/v1/storage/key`);
  if (!res.ok) {
    const body = await res.text().catch(() => '');
    throw new Error(`gateway refused to tell its storage key (HTTP ${res.status}): ${body.slice(0, 300)}`);
  }
  return parsePublicKey(((await res.json()) as { publicKey: string }).publicKey, 'the gateway storage key');
}

export interface GatewayBlobStoreOptions {
  /**
   * Called with each fetched envelope before it is opened: a fault drill's hook for bytes altered
   * after the store's hash check (in memory or on a path that does not re-hash). Never set in service.
   */
  onEnvelope?: (id: BlobId, envelope: Uint8Array) => Uint8Array;
}

/**
 * EMETH Storage as nodes, verifiers and keyholders see it: the gateway's `/v1/blobs`, every
 * request signed by the caller's key. Blobs cross the wire sealed (lib/envelope): uploads are
 * sealed here to the storage key the gateway publishes; reads fetch the envelope with its data key
 * wrapped to this caller's X25519 key and open it in memory. Reads are re-hashed, so a gateway
 * cannot hand over bytes other than the id.
 */
export function createGatewayBlobStore(
  gatewayUrl: string,
  signer: Signer,
  keys: SealingKeys,
  opts: GatewayBlobStoreOptions = {},
): BlobStore {
  const base = gatewayUrl.replace(/\/$/, '');
  const call = async (
    method: string,
    route: string,
    body?: Uint8Array,
    contentType?: string,
  ): Promise<Response> => {
    const path = withNonce(route);
    const headers = await signRequest(signer, method, path, body ?? '');
    return fetch(base + path, {
      method,
      headers: { ...headers, ...(contentType ? { 'content-type': contentType } : {}) },
      body: body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined,
    });
  };
  const failure = async (res: Response, what: string): Promise<Error> => {
    const text = await res.text().catch(() => '');
    return new Error(`gateway refused to ${what} (HTTP ${res.status}): ${text.slice(0, 300)}`);
  };
  let storageKey: Promise<Uint8Array> | undefined;
  const storagePublicKey = () => {
    storageKey ??= fetchStorageKey(base);
    storageKey.catch(() => (storageKey = undefined));
    return storageKey;
  };
  const me = publicKeyHex(keys.x25519.publicKey);
  return {
    async put(bytes) {
      const envelope = sealBlob(bytes, [await storagePublicKey()], { convergence: keys.convergence });
      const res = await call('PUT', '/v1/blobs', envelope, ENVELOPE_CONTENT_TYPE);
      if (!res.ok) throw await failure(res, 'store a blob');
      const { id } = (await res.json()) as { id: BlobId };
      const expected = blobIdOf(envelope);
      if (id !== expected)
        throw new BlobCorruptError(expected, id, 'the gateway (it acknowledged another id)');
      return id;
    },
    async get(id) {
      const res = await call('GET', `/v1/blobs/${id}?to=${me}`);
      if (res.status === 404) throw new BlobNotFoundError(id, 'the gateway');
      if (!res.ok) throw await failure(res, `read blob ${id}`);
      let envelope: Uint8Array = new Uint8Array(await res.arrayBuffer());
      if (blobIdOf(envelope) !== id) throw new BlobCorruptError(id, blobIdOf(envelope), 'the gateway');
      const wrap = res.headers.get(DATA_KEY_HEADER);
      if (!wrap)
        throw new Error(
          `the gateway sent blob ${id} without its data key (${DATA_KEY_HEADER}); is it older than this worker?`,
        );
      if (opts.onEnvelope) envelope = opts.onEnvelope(id, envelope);
      return openBlob(envelope, keys.x25519, { wrap: Buffer.from(wrap, 'base64'), what: `blob ${id}` });
    },
    async has(id) {
      const res = await call('HEAD', `/v1/blobs/${id}`);
      return res.ok;
    },
    async size(id) {
      const res = await call('HEAD', `/v1/blobs/${id}`);
      if (res.status === 404) throw new BlobNotFoundError(id, 'the gateway');
      if (!res.ok) throw await failure(res, `stat blob ${id}`);
      return Number(res.headers.get('content-length') ?? '0');
    },
  };
}
