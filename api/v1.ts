/**
 * The `/v1` API: raw bodies (the signature covers the exact bytes) read only once the caller is
 * admitted and only up to the route's limit, authentication per route,
 * JSON errors `{ error, message, field? }` for everything including body-parser's own failures.
 */
import { Router, type ErrorRequestHandler } from 'express';
import type { Logger } from '../lib/logger';
import { TASK_QUEUES } from '../lib/task-queues';
import { publicKeyHex } from '../lib/envelope';
import { createAuthenticator } from './auth';
import type { ApiContext, ApiDeps } from './deps';
import { HttpError, type ErrorBody } from './errors';
import { MAX_BLOB_BYTES, bodyAfterAdmission } from './http';
import { openApiDocument } from './schemas/document';
import { apiKeysRouter } from './routes/api-keys';
import { blobsRouter } from './routes/blobs';
import { jobsRouter } from './routes/jobs';
import { deploymentsRouter } from './routes/deployments';
import { nodesRouter } from './routes/nodes';
import { leasesRouter } from './routes/leases';

export function apiContext(deps: ApiDeps, logger: Logger): ApiContext {
  return {
    prisma: deps.prisma,
    store: deps.store,
    temporal: deps.temporal,
    chain: deps.chain,
    temporalUiUrl: deps.temporalUiUrl,
    namespace: deps.namespace,
    now: deps.now ?? Date.now,
    requestScope: deps.requestScope,
    l2TaskQueue: deps.l2TaskQueue ?? TASK_QUEUES.l2,
    progressQueryTimeoutMs: deps.progressQueryTimeoutMs ?? 2000,
    inspectJob: deps.inspectJob,
    commitDomain: deps.commitDomain,
    inference: deps.inference,
    leasePeriodSeconds: deps.leasePeriodSeconds,
    logger,
    readAll: new Set([...deps.verifiers, deps.l2Address].filter(Boolean).map((a) => a.toLowerCase())),
  };
}

export function createV1Router(deps: ApiDeps, logger: Logger): Router {
  const ctx = apiContext(deps, logger);
  const auth = createAuthenticator({ prisma: ctx.prisma, now: ctx.now, scope: ctx.requestScope });
  const router = Router();

  const document = openApiDocument();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });

  // The key uploaders seal blobs to; public, like any public key.
  router.get('/storage/key', (_req, res) => {
    res.json({
      keyId: ctx.store.storageKey.keyId,
      publicKey: publicKeyHex(ctx.store.storageKey.publicKey),
      algorithm: 'X25519',
    });
  });

  // Bodies are read after the caller is admitted, each route up to its own limit (api/http).
  router.use(bodyAfterAdmission(auth));
  router.use('/blobs', blobsRouter(ctx, auth));
  router.use('/jobs', jobsRouter(ctx, auth));
  router.use('/leases', leasesRouter(ctx, auth));
  router.use('/deployments', deploymentsRouter(ctx, auth));
  router.use('/nodes', nodesRouter(ctx, auth));
  router.use('/api-keys', apiKeysRouter(ctx, auth));

  router.use((req, res) => {
    const body: ErrorBody = {
      error: 'not_found',
      message: `no route for ${req.method} ${req.originalUrl.split('?')[0]}; see GET /v1/openapi.json`,
    };
    res.status(404).json(body);
  });

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const body = toErrorBody(err);
    if (body.status >= 500) req.log.error({ err, jobId: res.locals.jobId }, 'request failed');
    else
      req.log.info(
        { error: body.body.error, field: body.body.field, jobId: res.locals.jobId },
        body.body.message,
      );
    if (res.headersSent) return void res.end();
    res.status(body.status).json(body.body);
  };
  router.use(onError);
  return router;
}

/** Maps anything thrown to a status and the error shape; only unknown failures become 5xx. */
export function toErrorBody(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof HttpError) return { status: err.status, body: err.toBody() };
  const e = err as { status?: number; type?: string; limit?: number; message?: string; code?: string };
  if (e?.type === 'entity.too.large') {
    return {
      status: 413,
      body: {
        error: 'body_too_large',
        message: `the body is larger than the limit of ${e.limit ?? MAX_BLOB_BYTES} bytes`,
      },
    };
  }
  if (e?.code === 'BLOB_ID_INVALID')
    return { status: 400, body: { error: 'invalid_blob_id', message: e.message ?? 'not a blob id' } };
  if (e?.code === 'BLOB_NOT_FOUND')
    return { status: 404, body: { error: 'blob_not_found', message: e.message ?? 'no such blob' } };
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return {
      status: e.status,
      body: { error: (e.type ?? 'bad_request').replace(/\W+/g, '_'), message: e.message ?? 'bad request' },
    };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error; see the gateway log' } };
}
