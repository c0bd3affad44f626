/** API keys: created by a wallet-signed request and shown once, listed, revoked. */
import {
  ADDRESS,
  AUTH_ERRORS,
  ApiKeyIdParam,
  DATE_TIME,
  SIGNED_ONLY,
  SIGNED_OR_KEY,
  error,
  ok,
  z,
  type Operation,
} from './common';

export const CreateApiKeyBody = z
  .strictObject({
    label: z
      .string('a string of 1 to 100 characters')
      .min(1, 'a string of 1 to 100 characters')
      .max(100, 'a string of 1 to 100 characters')
      .optional(),
  })
  .openapi('CreateApiKey');

export const ApiKeyPath = z.object({ id: ApiKeyIdParam });

const ApiKey = z
  .object({
    id: z.string(),
    requester: ADDRESS,
    label: z.string().nullable(),
    createdAt: DATE_TIME,
    revokedAt: DATE_TIME.nullable(),
  })
  .openapi('ApiKey');

const ApiKeyCreated = ApiKey.extend({
  key: z
    .string()
    .regex(/^emeth_[A-Za-z0-9_-]+$/)
    .openapi({ description: 'the plaintext key, shown only this once' }),
}).openapi('ApiKeyCreated');

const ApiKeyList = z.object({ apiKeys: z.array(ApiKey) }).openapi('ApiKeyList');

export const apiKeyOperations = {
  createApiKey: {
    method: 'post',
    path: '/v1/api-keys',
    summary: 'Create an API key (wallet-signed requests only); the key is returned once',
    security: SIGNED_ONLY,
    request: {
      body: { required: false, content: { 'application/json': { schema: CreateApiKeyBody } } },
    },
    responses: { '201': ok('created', ApiKeyCreated), ...AUTH_ERRORS },
  },
  listApiKeys: {
    method: 'get',
    path: '/v1/api-keys',
    summary: "The caller's API keys",
    security: SIGNED_OR_KEY,
    responses: { '200': ok('the keys', ApiKeyList), ...AUTH_ERRORS },
  },
  revokeApiKey: {
    method: 'delete',
    path: '/v1/api-keys/{id}',
    summary: 'Revoke an API key',
    security: SIGNED_OR_KEY,
    request: { params: ApiKeyPath },
    responses: {
      '200': ok('revoked', ApiKey),
      ...AUTH_ERRORS,
      '404': error('no such key of the caller'),
    },
  },
} satisfies Record<string, Operation>;
