/**
 * The codec endpoint (Temporal's remote codec protocol) for the Temporal UI and CLI:
 * `POST /codec/encode` and `POST /codec/decode` (also under `/codec/<namespace>/…`, the CLI's
 * templated form), each taking and returning `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`
 * run through the deployment's payload codec. Start the UI with `--ui-codec-endpoint <gateway>/codec`
 * and it shows decoded payloads; without it, it shows ciphertext.
 *
 * Only the UI's origin may call it from a browser (CORS with credentials), and every call needs
 * `Authorization: Bearer <EMETH_CODEC_TOKEN>`, the operator's token. A requester's API key is
 * refused: decoding opens every party's payloads, not only the caller's (DESIGN §6). The one
 * exception is the embedded stack's loopback (allowLoopback).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import express, { Router, type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { AUTH_HEADERS } from '../lib/request-auth';
import { API_KEY_PREFIX } from './auth';
import { badRequest, forbidden, HttpError, unauthorized } from './errors';

export interface CodecRouterDeps {
  codec: PayloadCodec;
  /** Base URL of the Temporal UI; its origin is the one origin CORS allows. */
  uiOrigin: string;
  /** The operator's token (EMETH_CODEC_TOKEN), the only credential accepted. Unset: only loopback, if allowed. */
  token?: string;
  /**
   * Accept requests without a token from loopback addresses. Only for a gateway bound to
   * loopback on the embedded stack: the dev server's UI cannot send an Authorization header, and
   * anything that can reach 127.0.0.1 there can read the key file as well.
   */
  allowLoopback?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** Wire form of a Payload in the codec protocol (proto3 JSON: bytes as base64). */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** History payloads can be large; the UI sends one event's payloads per call. */
const MAX_CODEC_BODY = '32mb';
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function bytesFrom(value: unknown, where: string): Uint8Array {
  if (typeof value !== 'string' || !BASE64.test(value))
    throw badRequest('invalid_payload', `${where} must be a base64 string`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

export function payloadFromJson(p: unknown, i: number): Payload {
  if (typeof p !== 'object' || p === null || Array.isArray(p))
    throw badRequest('invalid_payload', `payloads[${i}] must be an object`);
  const { metadata, data } = p as { metadata?: unknown; data?: unknown };
  const out: Payload = { metadata: {} };
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata))
      throw badRequest('invalid_payload', `payloads[${i}].metadata must be an object`);
    for (const [k, v] of Object.entries(metadata))
      out.metadata![k] = bytesFrom(v, `payloads[${i}].metadata.${k}`);
  }
  out.data = data === undefined || data === null ? new Uint8Array() : bytesFrom(data, `payloads[${i}].data`);
  return out;
}

export function payloadToJson(p: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {}))
    if (v) metadata[k] = Buffer.from(v).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}

function sameSecret(a: string, b: string): boolean {
  // Hash first: timingSafeEqual needs equal lengths, and the hash hides the token's length.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function createCodecRouter(deps: CodecRouterDeps): Router {
  const origin = new URL(deps.uiOrigin).origin;
  const router = Router();

  // CORS on every answer, errors included, so the UI can read why a call failed.
  router.use((req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
    res.setHeader('Access-Control-Max-Age', '600');
    res.setHeader('Vary', 'Origin');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  });

  const authenticate: RequestHandler = async (req, _res, next) => {
    try {
      await authorize(req);
      next();
    } catch (err) {
      next(err);
    }
  };

  async function authorize(req: Request): Promise<void> {
    const authorization = req.headers.authorization;
    // A signed request names a party, and no party but the operator decodes: refused even on loopback.
    if (Object.values(AUTH_HEADERS).some((h) => req.headers[h.toLowerCase()] !== undefined)) {
      throw forbidden(
        'operator_only',
        "the codec endpoint takes only the operator's Authorization: Bearer <EMETH_CODEC_TOKEN>, not signed requests",
      );
    }
    if (!authorization && deps.allowLoopback && LOOPBACK.has(req.socket.remoteAddress ?? '')) return;
    if (!authorization)
      throw unauthorized('unauthenticated', "send the operator's Authorization: Bearer <EMETH_CODEC_TOKEN>");
    const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!m)
      throw unauthorized(
        'bad_authorization',
        'the Authorization header must be "Bearer <EMETH_CODEC_TOKEN>"',
      );
    if (deps.token && sameSecret(m[1]!, deps.token)) return;
    if (m[1]!.startsWith(API_KEY_PREFIX)) {
      // Checked after the token, and without a database lookup: any API key, valid or not, is refused alike.
      throw forbidden(
        'operator_only',
        "the codec endpoint decodes every party's payloads, so it takes only the operator's EMETH_CODEC_TOKEN, not an API key",
      );
    }
    throw unauthorized('bad_token', "this is not the operator's EMETH_CODEC_TOKEN");
  }

  router.use(authenticate);
  router.use(express.json({ type: () => true, limit: MAX_CODEC_BODY }));

  const handle =
    (op: 'encode' | 'decode'): RequestHandler =>
    async (req, res, next) => {
      try {
        const body = req.body as { payloads?: unknown };
        if (!body || !Array.isArray(body.payloads))
          throw badRequest('invalid_payloads', 'the body must be { "payloads": [ ... ] }', 'payloads');
        const payloads = body.payloads.map(payloadFromJson);
        let out: Payload[];
        try {
          out = await deps.codec[op](payloads);
        } catch (err) {
          throw badRequest(`${op}_failed`, (err as Error).message);
        }
        res.json({ payloads: out.map(payloadToJson) });
      } catch (err) {
        next(err);
      }
    };

  for (const op of ['encode', 'decode'] as const) {
    router.post(`/${op}`, handle(op));
    router.post(`/:namespace/${op}`, handle(op));
  }

  router.use((req, res) => {
    res.status(404).json({
      error: 'not_found',
      message: `no route for ${req.method} ${req.originalUrl.split('?')[0]}; use POST /codec/encode or /codec/decode`,
    });
  });

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    if (err instanceof HttpError) {
      res.status(err.status).json(err.toBody());
      return;
    }
    const status =
      typeof err?.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) req.log?.error({ err }, 'codec request failed');
    res.status(status).json({
      error: status === 500 ? 'internal' : 'bad_request',
      message: status === 500 ? 'internal error; see the gateway log' : (err as Error).message,
    });
  };
  router.use(onError);
  return router;
}
