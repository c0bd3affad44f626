import express, { type ErrorRequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../lib/logger';
import type { HealthReport } from '../lib/health';
import type { ApiDeps } from './deps';
import { createV1Router } from './v1';
import { createCodecRouter } from './codec';
import { methodNotAllowed } from './methods';

export type { ApiDeps, ChainView } from './deps';

export interface GatewayDeps extends ApiDeps {
  logger: Logger;
  health(): Promise<HealthReport>;
}

/**
 * Request headers pino-http must not write: `authorization` (API keys, the codec token), every
 * `x-emeth-*` header (signatures and what they sign, the wrapped data key), cookies. pino's redact
 * paths name keys, not patterns, so the x-emeth headers are listed one by one.
 */
export const REDACTED_HEADERS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-emeth-address"]',
  'req.headers["x-emeth-timestamp"]',
  'req.headers["x-emeth-signature"]',
  'req.headers["x-emeth-data-key"]',
  'res.headers["x-emeth-data-key"]',
  'res.headers["set-cookie"]',
];

const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie|x-emeth-.*)$/i;

/** A copy of the headers with every credential-bearing one censored (the request keeps its own). */
export function scrubHeaders(
  headers: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!headers) return headers;
  return Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, SECRET_HEADER.test(k) ? '[redacted]' : v]),
  );
}

/** The REST gateway. Routes only translate HTTP to calls on their dependencies. */
export function createGateway(deps: GatewayDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(
    pinoHttp({
      logger: deps.logger,
      // Credentials never reach a log: the API key, the operator's codec token and the signature headers.
      redact: { paths: REDACTED_HEADERS, censor: '[redacted]' },
      // redact names keys, not patterns: an x-emeth-* header added later is caught here.
      serializers: {
        req: (req: { headers?: Record<string, unknown> }) => ({ ...req, headers: scrubHeaders(req.headers) }),
        res: (res: { headers?: Record<string, unknown> }) => ({ ...res, headers: scrubHeaders(res.headers) }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' },
      // Routes that know their Job put its id in res.locals, so the request's log line carries it.
      customProps: (_req, res) => {
        const jobId = (res as express.Response).locals?.jobId;
        return jobId ? { jobId } : {};
      },
    }),
  );
  // Before every route: a method the document does not list on a path it knows is a 405.
  app.use(methodNotAllowed());
  // Before the JSON parser: /v1 reads raw bytes, because request signatures cover them.
  app.use('/v1', createV1Router(deps, deps.logger));
  // Also before it: /codec parses its own bodies, with a limit that fits a history event's payloads.
  if (deps.codec) {
    app.use(
      '/codec',
      createCodecRouter({
        codec: deps.codec,
        uiOrigin: deps.temporalUiUrl,
        token: deps.codecToken,
        allowLoopback: deps.codecAllowLoopback,
      }),
    );
  }
  app.use(express.json({ limit: '1mb' }));

  app.get('/healthz', async (_req, res) => {
    const report = await deps.health();
    res.status(report.status === 'up' ? 200 : 503).json(report);
  });

  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` });
  });
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const status =
      typeof err?.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) req.log.error({ err }, 'request failed');
    res.status(status).json({
      error: status === 500 ? 'internal' : 'bad_request',
      message: status === 500 ? 'internal error; see the gateway log' : err.message,
    });
  };
  app.use(onError);
  return app;
}
