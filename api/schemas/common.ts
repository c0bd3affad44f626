/**
 * What every resource's schemas share: the zod instance with `.openapi()`, the operation type the
 * document, the request checks and the 405 answers are all built from, the error shape, the auth
 * requirements and the field types used across resources.
 */
import { extendZodWithOpenApi, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { textField } from '../../lib/schema-fields';

extendZodWithOpenApi(z);
export { z };

/** One operation of the API: rendered into the document and used by its route to check requests. */
export type Operation = RouteConfig & {
  request?: {
    params?: z.ZodObject;
    query?: z.ZodObject;
    body?: NonNullable<RouteConfig['request']>['body'];
  };
};

// ---------------------------------------------------------------------------------------------
// Security

export const SIGNED = { emethAddress: [], emethTimestamp: [], emethSignature: [] };
export const SIGNED_OR_KEY = [SIGNED, { apiKey: [] }];
export const SIGNED_ONLY = [SIGNED];
export const PUBLIC: RouteConfig['security'] = [];

// ---------------------------------------------------------------------------------------------
// Errors

/** Codes that mean "the request does not have the documented shape"; any other 400 is semantic. */
export const SHAPE_ERROR_CODES = [
  'invalid_body',
  'invalid_field',
  'missing_field',
  'unknown_field',
  'invalid_parameter',
  'invalid_query',
  'empty_body',
  'malformed_json',
] as const;

export const ErrorBody = z
  .object({
    error: z.string().openapi({
      description:
        `stable code. Shape codes (the request does not match this document): ${SHAPE_ERROR_CODES.join(', ')}. ` +
        'Others are refusals of a well-formed request, e.g. unknown_blob, unknown_program, fee_below_minimum, ' +
        'invalid_range, deadline_out_of_range, invalid_cursor, insufficient_deposit, signature_replayed',
    }),
    message: z.string().openapi({ description: 'what was wrong and what to do' }),
    field: z.string().optional().openapi({ description: 'the request field at fault' }),
  })
  .strict()
  .openapi('Error');

const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });
export const ok = (description: string, schema: z.ZodType): ResponseConfig => ({
  description,
  ...json(schema),
});
export const error = (description: string): ResponseConfig => ({ description, ...json(ErrorBody) });

/** The errors every authenticated route can answer with. */
export const AUTH_ERRORS: Record<string, ResponseConfig> = {
  '400': error('invalid request: the message and `field` name the problem'),
  '401': error(
    'not authenticated: missing, bad, expired or replayed signature, or an unknown/revoked API key',
  ),
  '413': error('body too large'),
};

/** Declared once for the whole API: a method a path does not list. */
export const METHOD_NOT_ALLOWED: ResponseConfig = {
  description: 'the path exists but does not serve this method; the Allow header lists the methods it serves',
  headers: z.object({ Allow: z.string().openapi({ description: 'e.g. "GET, POST"' }) }),
  ...json(ErrorBody),
};

// ---------------------------------------------------------------------------------------------
// Field types

/** A parse error of a path parameter names the value and what it should have been. */
function pathParam(pattern: RegExp, what: string, description: string) {
  const message = (iss: { input?: unknown }) => `"${String(iss.input ?? '')}" is not ${what}`;
  return z.string({ error: message }).regex(pattern, { error: message }).openapi({ description });
}

export const JOB_ID_PATTERN = /^0x[0-9a-f]{64}$/;
export const JobIdParam = pathParam(
  /^0x[0-9a-fA-F]{64}$/,
  'a Job id (0x and 64 hex characters)',
  'a Job id; read case-insensitively',
);
export const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;
export const AddressParam = z
  .string({ error: (iss) => addressMessage(iss.input) })
  .regex(ADDRESS_PATTERN, { error: (iss) => addressMessage(iss.input) })
  .openapi({ description: 'an EVM address; read case-insensitively' });
function addressMessage(input: unknown): string {
  return `address must be an EVM address (0x and 40 hex characters); got "${String(input ?? '')}"`;
}
export const BlobIdParam = pathParam(
  /^[0-9a-f]{64}$/,
  'a blob id (64 lower-case hex characters, a sha-256)',
  'sha-256 content id in EMETH Storage',
);
export const ApiKeyIdParam = pathParam(
  /^[0-9a-f-]{36}$/,
  'an API key id',
  'the id POST /v1/api-keys returned',
);

export const CAPABILITY_CLASS_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
export const capabilityClass = (expect: string) =>
  textField({ maxLength: 32, pattern: CAPABILITY_CLASS_PATTERN, expect });

/** A query value of type integer: the query string carries it as decimal text. */
export function queryInt(min: number, max: number) {
  const expect = `an integer between ${min} and ${max}`;
  return z.coerce.number(expect).int(expect).min(min, expect).max(max, expect);
}

/** Response field types: what the gateway writes, as the document describes it. */
export const HOLON = z
  .string()
  .regex(/^-?[0-9]+$/)
  .openapi({ description: 'holon (10^-18 EMETH) as a decimal string' });
export const EMETH_AMOUNT = z
  .string()
  .regex(/^-?[0-9]+(\.[0-9]+)?$/)
  .openapi({ description: 'EMETH as a decimal string' });
export const BLOB_ID = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .openapi({ description: 'sha-256 content id in EMETH Storage' });
export const JOB_ID = z.string().regex(JOB_ID_PATTERN);
export const ADDRESS = z
  .string()
  .regex(/^0x[0-9a-f]{40}$/)
  .openapi({ description: 'lower-case EVM address' });
export const DATE_TIME = z.iso.datetime();
