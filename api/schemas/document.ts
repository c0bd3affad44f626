/** Renders the OpenAPI 3.1 document from the operations (api/schemas/operations.ts). */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { REPLAY_WINDOW_SECONDS } from '../../lib/request-auth';
import { METHOD_NOT_ALLOWED, SIGNED_OR_KEY, type Operation } from './common';
import { OPERATIONS } from './operations';

export function openApiDocument(): Record<string, unknown> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'emethAddress', {
    type: 'apiKey',
    in: 'header',
    name: 'x-emeth-address',
    description: 'the signer’s EVM address',
  });
  registry.registerComponent('securitySchemes', 'emethTimestamp', {
    type: 'apiKey',
    in: 'header',
    name: 'x-emeth-timestamp',
    description: `unix seconds; requests more than ${REPLAY_WINDOW_SECONDS} s from the gateway clock are refused`,
  });
  registry.registerComponent('securitySchemes', 'emethSignature', {
    type: 'apiKey',
    in: 'header',
    name: 'x-emeth-signature',
    description:
      'EIP-191 personal_sign of "EMETH-REQUEST-V1\\n<METHOD>\\n<path with query>\\n<sha-256 hex of the raw body>\\n<timestamp>". ' +
      'Each signature is accepted once (replays are refused with 401); to repeat an identical request within the same second add a `nonce` query parameter, which every route ignores.',
  });
  registry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'emeth_<key>',
    description: 'an API key from POST /v1/api-keys',
  });
  registry.registerComponent('responses', 'MethodNotAllowed', {
    description: METHOD_NOT_ALLOWED.description!,
    headers: {
      Allow: { description: 'the methods this path serves, e.g. "GET, POST"', schema: { type: 'string' } },
    },
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  for (const op of Object.values(OPERATIONS) as Operation[]) registry.registerPath(op);

  return new OpenApiGeneratorV31(registry.definitions, { unionPreferredType: 'oneOf' }).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'EMETH gateway',
      version: '1.0.0',
      description:
        'Submit and follow Jobs on the EMETH network, store blobs, register nodes and read their tickets. ' +
        'Errors are JSON `{ error, message, field? }`. Amounts are holon (10^-18 EMETH) as decimal strings. ' +
        'A method a path does not list answers 405 with an `Allow` header (components.responses.MethodNotAllowed); ' +
        'an unknown path answers 404.',
    },
    servers: [{ url: '/' }],
    security: SIGNED_OR_KEY,
  }) as unknown as Record<string, unknown>;
}
