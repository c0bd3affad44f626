/**
 * 405 for a method a known path does not serve, with `Allow` listing the methods it does (from
 * the operations of api/schemas, the same ones the document lists). Mounted before every route,
 * so Express's implicit HEAD-for-GET and OPTIONS answers never contradict the document; paths the
 * document does not know fall through to the 404.
 */
import type { RequestHandler } from 'express';
import type { ErrorBody } from './errors';
import { methodsByPath } from './schemas/operations';

interface PathMethods {
  template: string;
  pattern: RegExp;
  methods: string[];
}

function compile(): PathMethods[] {
  return [...methodsByPath()].map(([template, methods]) => ({
    template,
    pattern: new RegExp(
      '^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '/?$',
    ),
    methods,
  }));
}

/** The document's path template for a concrete path, preferring literal segments over parameters. */
export function matchTemplate(paths: readonly PathMethods[], path: string): PathMethods | undefined {
  return paths
    .filter((p) => p.pattern.test(path))
    .sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0))[0];
}

export function methodNotAllowed(): RequestHandler {
  const paths = compile();
  return (req, res, next) => {
    const known = matchTemplate(paths, req.path);
    if (!known || known.methods.includes(req.method)) return next();
    const allow = known.methods.join(', ');
    const body: ErrorBody = {
      error: 'method_not_allowed',
      message: `${req.method} is not served on ${known.template}; it serves ${allow} (see GET /v1/openapi.json)`,
    };
    res.status(405).set('allow', allow).json(body);
  };
}
