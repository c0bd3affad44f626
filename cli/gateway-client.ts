import type { Signer } from 'ethers';
import { signCommit } from '../activities/chain/commitments';
import { datasetId32, signL1Request } from '../activities/chain/l1-requests';
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
    if (body.layer === 'l1') return this.submitL1Job<T>(body, requester, deadlineMs, core);
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

  /**
   * Layer 'l1': the requester signs EmethL1's `Request` for exactly this Job (a fresh Job id, its
   * deadline in whole seconds, the dataset's blob id hashed); the L2 relays it on chain, where the
   * escrow leaves the requester's deposit. The dataset must already be a blob (PUT /v1/blobs).
   */
  private async submitL1Job<T>(
    body: { fuelLimit: string; fuelPrice: string } & Record<string, unknown>,
    requester: string,
    deadlineMs: number,
    core: string,
  ): Promise<T> {
    if (typeof body.dataset !== 'string' || typeof body.programId !== 'number')
      throw new EmethError(
        'USAGE',
        'an L1 Job needs programId and dataset (a blob id): upload the dataset first',
      );
    const deadline = Math.floor(deadlineMs / 1000);
    const request = {
      requester,
      jobId: newJobId(),
      programId: body.programId,
      fuelLimit: BigInt(body.fuelLimit),
      fuelPrice: BigInt(body.fuelPrice),
      deadline: BigInt(deadline),
      dataset: datasetId32(body.dataset),
    };
    const signature = await signL1Request(this.signer, emethDomain(this.chainId, core), request);
    const rest = Object.fromEntries(Object.entries(body).filter(([k]) => k !== 'deadlineSeconds'));
    return this.request<T>('POST', '/v1/jobs', {
      ...rest,
      deadline: new Date(deadline * 1000).toISOString(),
      l1Request: { jobId: request.jobId, signature },
    });
  }

  /**
   * POST /v1/deployments with the requester's Commit for the budget: a fresh deployment id, open a
   * week (the L2 needs at least a day after a stop for nodes to redeem the last window's tickets).
   */
  async deploy<T>(
    body: { budget: string } & Record<string, unknown>,
    core: string,
    openSeconds = 7 * 24 * 3600,
  ): Promise<T> {
    const requester = (await this.signer.getAddress()).toLowerCase();
    const commit = {
      requester,
      jobId: newJobId(),
      amount: BigInt(body.budget),
      deadline: BigInt(Math.floor(Date.now() / 1000) + openSeconds),
    };
    const signature = await signCommit(this.signer, emethDomain(this.chainId, core), commit);
    return this.request<T>('POST', '/v1/deployments', {
      ...body,
      commit: { deploymentId: commit.jobId, deadline: Number(commit.deadline), signature },
    });
  }

  /**
   * POST /v1/leases (paper 5-2) with the requester's Commit for the whole lease: a fresh lease id,
   * amount = nodes × periods × pricePerPeriod at the gateway's period (GET /v1/leases/terms), open
   * COMMIT_REDEEM_WINDOW_S past the lease's end for nodes to redeem the last period's tickets.
   */
  async createLease<T>(
    body: { capabilityClass: string; nodes: number; durationSeconds: number; hourlyPrice: string },
    core: string,
  ): Promise<T> {
    const requester = (await this.signer.getAddress()).toLowerCase();
    const terms = await this.call<{ periodSeconds: number }>('GET', '/v1/leases/terms');
    const periods = Math.floor(body.durationSeconds / terms.periodSeconds);
    const perPeriod = (BigInt(body.hourlyPrice) * BigInt(terms.periodSeconds)) / 3600n;
    const commit = {
      requester,
      jobId: newJobId(),
      amount: BigInt(body.nodes) * BigInt(periods) * perPeriod,
      deadline: BigInt(Math.floor(Date.now() / 1000) + body.durationSeconds + COMMIT_REDEEM_WINDOW_S),
    };
    const signature = await signCommit(this.signer, emethDomain(this.chainId, core), commit);
    return this.call<T>('POST', '/v1/leases', {
      ...body,
      commit: { leaseId: commit.jobId, deadline: Number(commit.deadline), signature },
    });
  }

  /** POST /v1/deployments/:id/infer with JSON inputs (named, or the rows of a one-input model). */
  infer<T>(deploymentId: string, inputs: unknown): Promise<T> {
    return this.request<T>('POST', `/v1/deployments/${deploymentId}/infer`, { inputs });
  }

  async request<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await this.send(method, route, body);
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

  /**
   * The signed request's raw answer, whatever its status (the caller reads the body). Throws only
   * when the gateway cannot be reached, naming its URL.
   */
  async send(method: string, route: string, body?: unknown): Promise<Response> {
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
    try {
      return await fetch(this.baseUrl.replace(/\/$/, '') + path, {
        method,
        headers,
        body: raw === '' ? undefined : typeof raw === 'string' ? raw : Buffer.from(raw),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new EmethError(
        'GATEWAY_UNREACHABLE',
        `could not reach the gateway at ${this.baseUrl} (${cause?.code ?? cause?.message ?? (err as Error).message}); start it with \`emeth up\` or set EMETH_GATEWAY_URL`,
        { cause: err },
      );
    }
  }

  /**
   * Like `request`, but a refusal throws the gateway's own sentence as an EmethError whose code is
   * the gateway's error code (`job_ended`, `node_not_found`, …), for commands that print it as is.
   */
  async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await this.send(method, route, body);
    const text = await res.text();
    if (!res.ok) throw gatewayRefusal(method, route, res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** GET /v1/jobs: the caller's Jobs, newest first, one page. */
  listJobs<T>(query: { status?: string; limit?: number; cursor?: string } = {}): Promise<T> {
    const q = new URLSearchParams();
    if (query.status) q.set('status', query.status);
    if (query.limit !== undefined) q.set('limit', String(query.limit));
    if (query.cursor) q.set('cursor', query.cursor);
    const s = q.toString();
    return this.call<T>('GET', `/v1/jobs${s ? `?${s}` : ''}`);
  }

  /** POST /v1/jobs/:id/cancel. */
  cancelJob<T>(id: string): Promise<T> {
    return this.call<T>('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
  }

  /**
   * GET /v1/jobs/:id/result: with `format`, the result converted by the gateway (bytes); without,
   * its metadata (JSON, naming the blob to download). `contentType` tells which came back.
   */
  async jobResult(id: string, format?: string): Promise<{ contentType: string; bytes: Uint8Array }> {
    const route = `/v1/jobs/${encodeURIComponent(id)}/result${format ? `?format=${encodeURIComponent(format)}` : ''}`;
    const res = await this.send('GET', route);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!res.ok) throw gatewayRefusal('GET', route, res.status, Buffer.from(bytes).toString('utf8'));
    return { contentType: res.headers.get('content-type') ?? '', bytes };
  }

  /** GET of a path the gateway named (e.g. a result's `download: /v1/blobs/<id>`), as bytes. */
  async download(route: string): Promise<Uint8Array> {
    const res = await this.send('GET', route);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!res.ok) throw gatewayRefusal('GET', route, res.status, Buffer.from(bytes).toString('utf8'));
    return bytes;
  }

  /** GET /v1/nodes/:address: the node's record at the gateway and its stake. */
  getNode<T>(address: string): Promise<T> {
    return this.call<T>('GET', `/v1/nodes/${address.toLowerCase()}`);
  }

  /** GET /v1/nodes/:address/tickets (the node's own only). */
  nodeTickets<T>(address: string, redeemed?: boolean): Promise<T> {
    return this.call<T>(
      'GET',
      `/v1/nodes/${address.toLowerCase()}/tickets${redeemed === undefined ? '' : `?redeemed=${redeemed}`}`,
    );
  }

  /** GET /v1/nodes/:address/redemptions (the node's own only): batched tickets not yet redeemed. */
  nodeRedemptions<T>(address: string): Promise<T> {
    return this.call<T>('GET', `/v1/nodes/${address.toLowerCase()}/redemptions`);
  }
}

/** A gateway's refusal as one sentence: its own message (which says what to do), its code as the error's. */
function gatewayRefusal(method: string, route: string, status: number, text: string): EmethError {
  let body: { error?: string; message?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    /* not JSON */
  }
  const message =
    body.message ??
    `${method} ${route.split('?')[0]} failed with HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  return new EmethError(body.error ?? `HTTP_${status}`, message);
}
