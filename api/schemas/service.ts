/** The public routes: health of the stack, this document, and the storage key blobs are sealed to. */
import { PUBLIC, ok, z, type Operation } from './common';

const PartHealth = z.object({ up: z.boolean(), detail: z.string().optional(), error: z.string().optional() });
const Health = z
  .object({
    status: z.enum(['up', 'down']),
    parts: z.record(z.string(), PartHealth),
    checkedAt: z.iso.datetime(),
  })
  .openapi('Health');

const StorageKey = z
  .object({
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    publicKey: z.string().regex(/^[0-9a-f]{64}$/),
    algorithm: z.literal('X25519'),
  })
  .openapi('StorageKey');

export const serviceOperations = {
  health: {
    method: 'get',
    path: '/healthz',
    summary: 'Health of every part of the stack',
    security: PUBLIC,
    responses: { '200': ok('all parts up', Health), '503': ok('a part is down', Health) },
  },
  openApi: {
    method: 'get',
    path: '/v1/openapi.json',
    summary: 'This document',
    security: PUBLIC,
    responses: {
      '200': ok(
        'the OpenAPI 3.1 document',
        z.object({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) }),
      ),
    },
  },
  storageKey: {
    method: 'get',
    path: '/v1/storage/key',
    summary: 'The X25519 storage key blobs are sealed to at rest',
    security: PUBLIC,
    responses: { '200': ok('the key', StorageKey) },
  },
} satisfies Record<string, Operation>;
