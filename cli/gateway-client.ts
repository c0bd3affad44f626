import type { Signer } from 'ethers';
import { requestScope, signRequest, withNonce, type RequestScope } from '../lib/request-auth';
import { EmethError } from '../lib/errors';

/**
 * A requester's (or node's) signed calls to the REST gateway. Each signature names the gateway's
 * origin (from `baseUrl`) and the deployment's chain id, so no other gateway accepts it.
 */
export class GatewayClient {
  readonly scope: RequestScope;

  constructor(
    readonly baseUrl: string,
    private readonly signer: Signer,
    chainId: number,
  ) {
    this.scope = requestScope(baseUrl, chainId);
  }

  async request<T>(method: string, route: string, body?: unknown): Promise<T> {
    const path = withNonce(route);
    const raw = body === undefined ? '' : body instanceof Uint8Array ? body : JSON.stringify(body);
    const headers: Record<string, string> = await signRequest(
      this.signer,
      method,
      path,
      raw,
      undefined,
      this.scope,
    );
    if (body !== undefined)
      headers['content-type'] = body instanceof Uint8Array ? 'application/octet-stream' : 'application/json';
    const res = await fetch(this.baseUrl.replace(/\/$/, '') + path, {
      method,
      headers,
      body: raw === '' ? undefined : typeof raw === 'string' ? raw : Buffer.from(raw),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        /* not JSON */
      }
      throw new EmethError('GATEWAY', `${method} ${route} failed with HTTP ${res.status}: ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  putBlob(bytes: Uint8Array): Promise<{ id: string; size: number }> {
    return this.request('PUT', '/v1/blobs', bytes);
  }

  async getBlob(id: string): Promise<Uint8Array> {
    const path = withNonce(`/v1/blobs/${id}`);
    const res = await fetch(this.baseUrl + path, {
      headers: await signRequest(this.signer, 'GET', path, '', undefined, this.scope),
    });
    if (!res.ok)
      throw new EmethError('GATEWAY', `GET ${path} failed with HTTP ${res.status}: ${await res.text()}`);
    return new Uint8Array(await res.arrayBuffer());
  }
}
