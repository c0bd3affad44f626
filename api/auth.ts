/**
 * Who is calling. Two ways in (SPEC §1: requesters have API keys; DESIGN §6: every party has a
 * secp256k1 identity):
 *  - a wallet signature (EIP-191 over the gateway's chain id and origin, method, path+query, sha-256
 *    of the raw body and a timestamp; lib/request-auth). Within the ±REPLAY_WINDOW_SECONDS window a
 *    captured request could be sent again, so every accepted request is remembered, as its signer
 *    and the digest of what was signed, until its window closes, and a repeat is refused. Keyed on
 *    the message, not the signature's bytes: one ECDSA signature has many spellings, and only the
 *    canonical one is accepted anyway;
 *  - `Authorization: Bearer emeth_…`, an API key created by a signed request. Only its sha-256 is
 *    stored, so a database leak yields no usable keys.
 * Both resolve to a lower-case address. Creating keys and registering nodes accept signatures only:
 * a leaked key must not mint more keys or act as a node.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Request } from 'express';
import {
  AUTH_HEADERS,
  REPLAY_WINDOW_SECONDS,
  precheckRequest,
  verifyRequest,
  type RequestScope,
} from '../lib/request-auth';
import type { PrismaClient } from '../prisma/client';
import { unauthorized } from './errors';

export interface Caller {
  /** Lower-case address. */
  address: string;
  via: 'signature' | 'api-key';
  apiKeyId?: string;
}

export const API_KEY_PREFIX = 'emeth_';

export function newApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function apiKeyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * Signed requests seen inside their validity window, as (signer, message digest). Memory is bounded
 * by the request rate times the window (10 min): entries are dropped once their timestamp can no
 * longer pass verifyRequest.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  /** Records the request; false when this signer already sent this exact message. */
  accept(address: string, digest: string, timestamp: number, nowSeconds: number): boolean {
    this.prune(nowSeconds);
    const key = `${address.toLowerCase()}:${digest.toLowerCase()}`;
    if (this.seen.has(key)) return false;
    this.seen.set(key, timestamp + REPLAY_WINDOW_SECONDS);
    return true;
  }

  private prune(nowSeconds: number): void {
    for (const [key, expires] of this.seen) if (expires < nowSeconds) this.seen.delete(key);
  }

  get size(): number {
    return this.seen.size;
  }
}

const header = (req: Request, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export interface Authenticator {
  /**
   * What can be checked before the body is read: an API key completely, a signature's headers
   * (address, timestamp inside the window, canonical form). Throws 401 otherwise, so a stranger
   * cannot make the gateway read a body.
   */
  admit(req: Request, opts?: { signedOnly?: boolean }): Promise<void>;
  authenticate(req: Request, opts?: { signedOnly?: boolean }): Promise<Caller>;
}

export function createAuthenticator(deps: {
  prisma: PrismaClient;
  now: () => number;
  /** The gateway's chain id and origin, which every signature must name. */
  scope: RequestScope;
}): Authenticator {
  const replays = new ReplayGuard();
  /** API-key callers admit() already looked up, so authenticate() does not query twice. */
  const admitted = new WeakMap<Request, Caller>();

  async function byApiKey(authorization: string): Promise<Caller> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!m) throw unauthorized('bad_authorization', 'the Authorization header must be "Bearer <API key>"');
    const key = m[1]!;
    if (!key.startsWith(API_KEY_PREFIX)) {
      throw unauthorized(
        'bad_api_key',
        `an EMETH API key starts with "${API_KEY_PREFIX}"; create one with POST /v1/api-keys`,
      );
    }
    const row = await deps.prisma.apiKey.findUnique({ where: { keyHash: apiKeyHash(key) } });
    if (!row)
      throw unauthorized(
        'bad_api_key',
        'this API key is unknown; create one with a signed POST /v1/api-keys',
      );
    if (row.revokedAt) {
      throw unauthorized(
        'revoked_api_key',
        `this API key was revoked at ${row.revokedAt.toISOString()}; create a new one`,
      );
    }
    return { address: row.requester.toLowerCase(), via: 'api-key', apiKeyId: row.id };
  }

  function bySignature(req: Request): Caller {
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const nowSeconds = Math.floor(deps.now() / 1000);
    const headers = {
      address: header(req, AUTH_HEADERS.address),
      timestamp: header(req, AUTH_HEADERS.timestamp),
      signature: header(req, AUTH_HEADERS.signature),
    };
    // originalUrl keeps the /v1 prefix and the query string: exactly what the client signed.
    const result = verifyRequest(headers, req.method, req.originalUrl, body, nowSeconds, deps.scope);
    if (!result.ok) throw signatureRefused(result);
    if (!replays.accept(result.address, result.digest, Number(headers.timestamp), nowSeconds)) {
      throw unauthorized(
        'signature_replayed',
        `this signed request was already accepted once (replayed ${AUTH_HEADERS.signature}); sign every request afresh`,
      );
    }
    return { address: result.address.toLowerCase(), via: 'signature' };
  }

  function signatureRefused(result: { reason: string; message: string }) {
    const hint =
      result.reason === 'wrong-signer'
        ? '; sign the exact method, path with query, body bytes and timestamp you send'
        : '';
    return unauthorized(`signature_${result.reason.replace(/-/g, '_')}`, result.message + hint);
  }

  function signatureRequired(req: Request) {
    return unauthorized(
      'signature_required',
      `${req.method} ${req.baseUrl}${req.path} accepts wallet-signed requests only, not API keys`,
    );
  }

  function unauthenticated(signedOnly?: boolean) {
    return unauthorized(
      'unauthenticated',
      `sign the request (${Object.values(AUTH_HEADERS).join(', ')})${signedOnly ? '' : ' or send Authorization: Bearer <API key>'}`,
    );
  }

  return {
    async admit(req, opts = {}) {
      const authorization = header(req, 'authorization');
      if (authorization && !header(req, AUTH_HEADERS.signature)) {
        if (opts.signedOnly) throw signatureRequired(req);
        admitted.set(req, await byApiKey(authorization));
        return;
      }
      if (!header(req, AUTH_HEADERS.signature) && !header(req, AUTH_HEADERS.address))
        throw unauthenticated(opts.signedOnly);
      const pre = precheckRequest(
        {
          address: header(req, AUTH_HEADERS.address),
          timestamp: header(req, AUTH_HEADERS.timestamp),
          signature: header(req, AUTH_HEADERS.signature),
        },
        Math.floor(deps.now() / 1000),
      );
      if (!pre.ok) throw signatureRefused(pre);
    },
    async authenticate(req, opts = {}) {
      const authorization = header(req, 'authorization');
      if (authorization && !header(req, AUTH_HEADERS.signature)) {
        if (opts.signedOnly) throw signatureRequired(req);
        return admitted.get(req) ?? byApiKey(authorization);
      }
      if (!header(req, AUTH_HEADERS.signature) && !header(req, AUTH_HEADERS.address))
        throw unauthenticated(opts.signedOnly);
      return bySignature(req);
    },
  };
}
