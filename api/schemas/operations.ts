/**
 * The REST contract, written once: every operation of the gateway with its request and response
 * schemas (zod). From it come the request checks of every route (parse.ts), the OpenAPI 3.1
 * document served at /v1/openapi.json (document.ts), the 405 answers (api/methods.ts), and in
 * tests the response checks and the generated requests.
 */
import { apiKeyOperations } from './api-keys';
import { blobOperations } from './blobs';
import type { Operation } from './common';
import { jobOperations } from './jobs';
import { deploymentOperations } from './deployments';
import { nodeOperations } from './nodes';
import { leaseOperations } from './leases';
import { serviceOperations } from './service';

export const OPERATIONS = {
  ...serviceOperations,
  ...blobOperations,
  ...jobOperations,
  ...deploymentOperations,
  ...leaseOperations,
  ...nodeOperations,
  ...apiKeyOperations,
} satisfies Record<string, Operation>;

export type OperationId = keyof typeof OPERATIONS;

/** Upper-case methods per path template, in the order the operations are declared. */
export function methodsByPath(): Map<string, string[]> {
  const byPath = new Map<string, string[]>();
  for (const op of Object.values(OPERATIONS) as Operation[]) {
    byPath.set(op.path, [...(byPath.get(op.path) ?? []), op.method.toUpperCase()]);
  }
  return byPath;
}
