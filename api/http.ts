/** Small helpers the route modules share: the caller, JSON bodies read from the raw bytes. */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Authenticator, Caller } from './auth';
import { HttpError, badRequest } from './errors';

/** JSON bodies are capped below the 64 MB raw limit (blob uploads): 16 MB of base64 data plus room. */
export const MAX_JSON_BYTES = 24 * 1024 * 1024;
export const MAX_BLOB_BYTES = 64 * 1024 * 1024;

/** Authenticates, then leaves the caller in res.locals for the handler. */
export function authenticated(auth: Authenticator, opts: { signedOnly?: boolean } = {}): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    res.locals.caller = await auth.authenticate(req, opts);
    next();
  };
}

export function callerOf(res: Response): Caller {
  const caller = res.locals.caller as Caller | undefined;
  if (!caller) throw new Error('route reached without authentication: mount authenticated() before it');
  return caller;
}

export function rawBody(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

/**
 * The body as JSON. Parsed here, after authentication, because the signature covers the raw
 * bytes: a JSON parser in front would have thrown them away.
 */
export function jsonBody(req: Request, opts: { emptyAs?: unknown } = {}): unknown {
  const raw = rawBody(req);
  if (raw.length > MAX_JSON_BYTES) {
    throw new HttpError(
      413,
      'body_too_large',
      `JSON bodies are limited to ${MAX_JSON_BYTES} bytes; upload big data with PUT /v1/blobs and pass its id`,
    );
  }
  if (raw.length === 0) {
    if ('emptyAs' in opts) return opts.emptyAs;
    throw badRequest('empty_body', 'the body is empty; send a JSON object');
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw badRequest('malformed_json', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The query as an object for parseQuery (api/schemas/parse.ts). Express 5 gives repeated keys as arrays; the API takes
 * each at most once. `nonce` is dropped: signatures are deterministic and timestamps are whole
 * seconds, so a client repeating an identical signed request within a second adds a nonce to make
 * it a new request rather than a replay.
 */
export function queryObject(req: Request): Record<string, unknown> {
  const q = { ...(req.query as Record<string, unknown>) };
  delete q.nonce;
  for (const [k, v] of Object.entries(q)) {
    if (Array.isArray(v))
      throw badRequest('invalid_query', `query parameter "${k}" is given more than once`, k);
    if (typeof v === 'object' && v !== null)
      throw badRequest('invalid_query', `query parameter "${k}" must be a plain value`, k);
  }
  return q;
}
