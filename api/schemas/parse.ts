/**
 * The one place zod issues become the gateway's 400s: `{ error, message, field }` naming the FIRST
 * offending field, so a client fixes one thing at a time with an exact message ("numParallel must
 * be an integer between 1 and 256; got 1000"). Unknown fields are refused by name before anything
 * else: a typo such as `fuellimit` must not silently fall back to a default. The phrase after
 * "must be" is each field's zod error message (lib/schema-fields.ts).
 */
import type { z } from 'zod';
import { badRequest } from '../errors';

export type Where = 'field' | 'query parameter';

export interface ParseContext {
  where?: Where;
  /** Names the input in "… must be a JSON object": 'the body' or 'the query'. */
  what?: string;
  /** Fields required only by a program: "model is required for onnx-inference: …". */
  requiredFor?: { fields: ReadonlySet<string>; name: string };
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `a ${typeof v}`;
}

/** The input as a JSON object, or 400 invalid_body. */
export function asRecord(input: unknown, what = 'the body'): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw badRequest('invalid_body', `${what} must be a JSON object, got ${describeValue(input)}`);
  }
  return input as Record<string, unknown>;
}

/** 400 unknown_field naming every field not in `allowed` (in the order sent). */
export function refuseUnknown(
  record: Record<string, unknown>,
  allowed: readonly string[],
  where: Where = 'field',
): void {
  const unknown = Object.keys(record).filter((k) => !allowed.includes(k));
  if (unknown.length === 0) return;
  throw badRequest(
    'unknown_field',
    `unknown ${where}${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: ${allowed.join(', ')}`,
    unknown[0],
  );
}

/** The 400 for the first issue of a failed parse of `record`. */
export function issueError(issue: z.core.$ZodIssue, record: Record<string, unknown>, ctx: ParseContext = {}) {
  const field = issue.path.length > 0 ? String(issue.path[0]) : undefined;
  if (issue.code === 'unrecognized_keys') {
    return badRequest(
      'unknown_field',
      `unknown ${ctx.where ?? 'field'} ${issue.keys.map((k) => `"${k}"`).join(', ')}`,
      issue.keys[0],
    );
  }
  if (field === undefined) return badRequest('invalid_body', issue.message);
  // A rule across fields (a refinement) words its whole sentence and may carry its own code.
  if (issue.code === 'custom') {
    const code = (issue.params as { code?: string } | undefined)?.code ?? 'invalid_field';
    return badRequest(code, issue.message, field);
  }
  const value = record[field];
  if (value === undefined) {
    const forProgram = ctx.requiredFor?.fields.has(field) ? ` for ${ctx.requiredFor.name}` : '';
    return badRequest('missing_field', `${field} is required${forProgram}: ${issue.message}`, field);
  }
  return badRequest('invalid_field', `${field} must be ${issue.message}; got ${describeValue(value)}`, field);
}

/** Parses an object already checked for unknown fields; throws the first issue as a 400. */
export function parseRecord<S extends z.ZodType>(
  schema: S,
  record: Record<string, unknown>,
  ctx: ParseContext = {},
): z.output<S> {
  const parsed = schema.safeParse(record);
  if (!parsed.success) throw issueError(parsed.error.issues[0]!, record, ctx);
  return parsed.data;
}

/** A JSON body or a query against a strict object schema: unknown fields first, then each field in order. */
export function parseObject<S extends z.ZodObject>(
  schema: S,
  input: unknown,
  ctx: ParseContext = {},
): z.output<S> {
  const record = asRecord(input, ctx.what);
  refuseUnknown(record, Object.keys(schema.shape), ctx.where);
  return parseRecord(schema, record, ctx);
}

export function parseQuery<S extends z.ZodObject>(schema: S, query: Record<string, unknown>): z.output<S> {
  return parseObject(schema, query, { where: 'query parameter', what: 'the query' });
}

/**
 * Path parameters: their schemas word the whole sentence ("\"123\" is not a Job id …"), since the
 * value is the problem, not a field the client filled in.
 */
export function parsePath<S extends z.ZodObject>(schema: S, params: Record<string, unknown>): z.output<S> {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw badRequest('invalid_parameter', issue.message, String(issue.path[0] ?? ''));
}
