import type { Signer } from 'ethers';
import { signCommit } from '../activities/chain/commitments';
import { feeLimitOf, verifierFeeOf } from '../lib/fees';
import { newJobId } from '../lib/ids';
import { emethDomain } from '../lib/tickets';
import { COMMIT_REDEEM_WINDOW_S } from '../lib/commit-window';
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
    private readonly chainId: number,
  ) {
    this.scope = requestScope(baseUrl, chainId);
  }

  /**
   * POST /v1/jobs with the requester's Commit: a fresh Job id, amount = feeLimit + verifierFee, open
   * COMMIT_REDEEM_WINDOW_S past the Job's deadline, signed for EmethCore at `core`. The L2 sends
   * it on chain at reservation, so a withdrawal can never take what the Job committed.
   */
  async submitJob<T>(
    body: { fuelLimit: string; fuelPrice: string; deadline?: string; deadlineSeconds?: number } & Record<
      string,
      unknown
    >,
    core: string,
  ): Promise<T> {
    const requester = (await this.signer.getAddress()).toLowerCase();
    const feeLimit = feeLimitOf(BigInt(body.fuelLimit), BigInt(body.fuelPrice));
    const deadlineMs = body.deadline
      ? Date.parse(body.deadline)
      : Date.now() + (body.deadlineSeconds ?? 3600) * 1000;
    const commit = {
      requester,
      jobId: newJobId(),
      amount: feeLimit + verifierFeeOf(feeLimit),
      deadline: BigInt(Math.ceil(deadlineMs / 1000) + COMMIT_REDEEM_WINDOW_S),
    };
    const signature = await signCommit(this.signer, emethDomain(this.chainId, core), commit);
    return this.request<T>('POST', '/v1/jobs', {
      ...body,
      commit: { jobId: commit.jobId, deadline: Number(commit.deadline), signature },
    });
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
