import type { Signer } from 'ethers';
import { signRequest, withNonce } from '../lib/request-auth';
import { BlobCorruptError, BlobNotFoundError, blobIdOf, type BlobId, type BlobStore } from './storage';

/**
 * EMETH Storage as nodes and verifiers see it: the gateway's `/v1/blobs`, every request signed by
 * the caller's key. Reads are re-hashed, so a gateway cannot hand a node bytes other than the id.
 */
export function createGatewayBlobStore(gatewayUrl: string, signer: Signer): BlobStore {
  const base = gatewayUrl.replace(/\/$/, '');
  const call = async (method: string, route: string, body?: Uint8Array): Promise<Response> => {
    const path = withNonce(route);
    const headers = await signRequest(signer, method, path, body ?? '');
    return fetch(base + path, {
      method,
      headers: { ...headers, ...(body ? { 'content-type': 'application/octet-stream' } : {}) },
      body: body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined,
    });
  };
  const failure = async (res: Response, what: string): Promise<Error> => {
    const text = await res.text().catch(() => '');
    return new Error(`gateway refused to ${what} (HTTP ${res.status}): ${text.slice(0, 300)}`);
  };
  return {
    async put(bytes) {
      const res = await call('PUT', '/v1/blobs', bytes);
      if (!res.ok) throw await failure(res, 'store a blob');
      const { id } = (await res.json()) as { id: BlobId };
      if (id !== blobIdOf(bytes)) throw new BlobCorruptError(blobIdOf(bytes), id, 'the gateway (it acknowledged another id)');
      return id;
    },
    async get(id) {
      const res = await call('GET', `/v1/blobs/${id}`);
      if (res.status === 404) throw new BlobNotFoundError(id, 'the gateway');
      if (!res.ok) throw await failure(res, `read blob ${id}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (blobIdOf(bytes) !== id) throw new BlobCorruptError(id, blobIdOf(bytes), 'the gateway');
      return bytes;
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
