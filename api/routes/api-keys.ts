/**
 * API keys for requesters who would rather not sign every request (scripts, the CLI on a server).
 * A key is created only by a wallet-signed request, shown once, and stored as its sha-256.
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import type { Authenticator } from '../auth';
import { apiKeyHash, newApiKey } from '../auth';
import type { ApiContext } from '../deps';
import { notFound } from '../errors';
import { authenticated, callerOf, jsonBody } from '../http';
import { ApiKeyPath, CreateApiKeyBody } from '../schemas/api-keys';
import { parseObject, parsePath } from '../schemas/parse';

type ApiKeyRow = {
  id: string;
  requester: string;
  label: string | null;
  createdAt: Date;
  revokedAt: Date | null;
};

export function apiKeyView(k: ApiKeyRow) {
  return {
    id: k.id,
    requester: k.requester,
    label: k.label,
    createdAt: k.createdAt.toISOString(),
    revokedAt: k.revokedAt ? k.revokedAt.toISOString() : null,
  };
}

export function apiKeysRouter(ctx: ApiContext, auth: Authenticator): Router {
  const router = Router();

  router.post('/', authenticated(auth, { signedOnly: true }), async (req, res) => {
    const requester = callerOf(res).address;
    const body = parseObject(CreateApiKeyBody, jsonBody(req, { emptyAs: {} }));
    const key = newApiKey();
    const row = await ctx.prisma.apiKey.create({
      data: { id: randomUUID(), requester, keyHash: apiKeyHash(key), label: body.label ?? null },
    });
    req.log.info({ requester, apiKeyId: row.id }, 'API key created');
    res.status(201).json({ ...apiKeyView(row), key });
  });

  router.get('/', authenticated(auth), async (_req, res) => {
    const rows = await ctx.prisma.apiKey.findMany({
      where: { requester: callerOf(res).address },
      orderBy: { createdAt: 'asc' },
    });
    res.json({ apiKeys: rows.map(apiKeyView) });
  });

  router.delete('/:id', authenticated(auth), async (req, res) => {
    const requester = callerOf(res).address;
    const { id } = parsePath(ApiKeyPath, req.params);
    const row = await ctx.prisma.apiKey.findUnique({ where: { id } });
    // Someone else's key answers like a missing one: ids are not for probing.
    if (!row || row.requester !== requester) throw notFound('api_key_not_found', `you have no API key ${id}`);
    const revoked = row.revokedAt
      ? row
      : await ctx.prisma.apiKey.update({ where: { id }, data: { revokedAt: new Date(ctx.now()) } });
    req.log.info({ requester, apiKeyId: id }, 'API key revoked');
    res.json(apiKeyView(revoked));
  });

  return router;
}
