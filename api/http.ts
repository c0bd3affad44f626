/** Small helpers the route modules share: the caller, JSON bodies read from the raw bytes. */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Authenticator, Caller } from './auth';
import { HttpError, badRequest } from './errors';

/** POST /v1/jobs may carry a dataset inline (datasetBase64: 16 MB of data is ~22.4 MB of JSON), plus room. */
export const MAX_JSON_BYTES = 24 * 1024 * 1024;
export const MAX_BLOB_BYTES = 64 * 1024 * 1024;
/** Every other JSON route (API keys, node registration, cancel): small objects only. */
export const MAX_SMALL_JSON_BYTES = 64 * 1024;

/** How a /v1 route takes a body: at most `limit` bytes, and whether it refuses API keys (signed requests only). */
export interface BodyPolicy {
  limit: number;
  signedOnly: boolean;
}

/** The body policy of a /v1 route; paths are relative to /v1. Must agree with the routes' authenticated() options. */
export function bodyPolicyFor(method: string, path: string): BodyPolicy {
  const p = path.replace(/\/+$/, '') || '/';
  if (method === 'PUT' && p === '/blobs') return { limit: MAX_BLOB_BYTES, signedOnly: false };
  if (method === 'POST' && p === '/jobs') return { limit: MAX_JSON_BYTES, signedOnly: false };
  if (method === 'POST' && /^\/deployments\/[^/]+\/infer$/.test(p))
    return { limit: MAX_JSON_BYTES, signedOnly: false };
  const signedOnly = method === 'POST' && (p === '/api-keys' || p === '/nodes');
  return { limit: MAX_SMALL_JSON_BYTES, signedOnly };
}

/**
 * Refuses without reading what is left of the body: the connection closes after the answer, so a
 * stranger's gigabyte is never taken off the socket.
 */
function closeAfterAnswer(res: Response): void {
  res.setHeader('connection', 'close');
}

function tooLarge(limit: number): HttpError {
  return new HttpError(
    413,
    'body_too_large',
    `the body is larger than this route's limit of ${limit} bytes` +
      (limit < MAX_BLOB_BYTES ? '; upload big data with PUT /v1/blobs and pass its id' : ''),
  );
}

/**
 * Reads the raw body (signatures cover the exact bytes) only after the caller is admitted
 * (Authenticator.admit: an API key, or well-formed signature headers inside the window), and only up
 * to the route's limit (bodyPolicyFor). A declared length over the limit is refused before a byte is
 * read. Requests without a body pass straight on: their route authenticates them.
 */
export function bodyAfterAdmission(auth: Authenticator): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const declared = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (!chunked && (declared === undefined || Number(declared) === 0)) {
      req.body = Buffer.alloc(0);
      return next();
    }
    const { limit, signedOnly } = bodyPolicyFor(req.method, req.path);
    try {
      await auth.admit(req, { signedOnly });
    } catch (err) {
      closeAfterAnswer(res);
      throw err;
    }
    if (declared !== undefined && Number(declared) > limit) {
      closeAfterAnswer(res);
      throw tooLarge(limit);
    }
    req.body = await readLimited(req, limit).catch((err) => {
      if (err instanceof HttpError) closeAfterAnswer(res);
      throw err;
    });
    next();
  };
}

function readLimited(req: Request, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(badRequest('body_unreadable', `the request body could not be read: ${err.message}`));
    };
    const onAborted = () => onError(new Error('the client closed the connection'));
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

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
