/**
 * A small typed validator for request bodies and query strings (no schema library: the gateway's
 * inputs are few and flat). A schema is an object of rules; `parseObject` checks the fields in
 * declaration order and throws an HttpError(400) naming the FIRST offending field, so a client
 * fixes one thing at a time with an exact message: "numParallel must be an integer between 1 and
 * 256". Unknown fields are refused by name: a typo such as `fuellimit` must not silently fall
 * back to a default.
 */
import { badRequest } from './errors';

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem?: string };

export interface Rule<T> {
  /** What a valid value looks like, completing "<field> must be …". */
  readonly expect: string;
  /** Absent (undefined) is allowed; the parsed value is then `fallback`. */
  readonly optional: boolean;
  readonly fallback?: T;
  parse(value: unknown): Parsed<T>;
}

export type Output<R> = R extends Rule<infer T> ? T : never;
export type Shape = Record<string, Rule<unknown>>;
export type ObjectOutput<S extends Shape> = { [K in keyof S]: Output<S[K]> };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(problem?: string): Parsed<T> => ({ ok: false, problem });

function rule<T>(expect: string, parse: (v: unknown) => Parsed<T>): Rule<T> {
  return { expect, optional: false, parse };
}

/** The rule with absence allowed: parsed as `fallback` (undefined when none is given). */
export function optional<T>(r: Rule<T>): Rule<T | undefined>;
export function optional<T>(r: Rule<T>, fallback: T): Rule<T>;
export function optional<T>(r: Rule<T>, fallback?: T): Rule<T | undefined> {
  return { ...r, optional: true, fallback, parse: r.parse };
}

export function integer(min: number, max: number): Rule<number> {
  return rule(`an integer between ${min} and ${max}`, (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? ok(v) : bad(),
  );
}

export function finiteNumber(): Rule<number> {
  return rule('a finite number', (v) => (typeof v === 'number' && Number.isFinite(v) ? ok(v) : bad()));
}

export function boolean(): Rule<boolean> {
  return rule('true or false', (v) => (typeof v === 'boolean' ? ok(v) : bad()));
}

export function string(opts: {
  maxLength: number;
  pattern?: RegExp;
  expect?: string;
  minLength?: number;
}): Rule<string> {
  const expect = opts.expect ?? `a string of ${opts.minLength ?? 0} to ${opts.maxLength} characters`;
  return rule(expect, (v) => {
    if (typeof v !== 'string') return bad();
    if (v.length < (opts.minLength ?? 0) || v.length > opts.maxLength)
      return bad(`is ${v.length} characters long`);
    if (opts.pattern && !opts.pattern.test(v)) return bad();
    return ok(v);
  });
}

/**
 * A non-negative integer as a decimal string, bounded. Amounts and fuel exceed 2^53, so JSON
 * numbers would lose digits silently: strings only.
 */
export function decimalString(min: bigint, max: bigint, what = 'a decimal string'): Rule<bigint> {
  const maxText = max === 10n ** 30n ? '10^30' : max.toString();
  return rule(`${what} of an integer between ${min} and ${maxText}`, (v) => {
    if (typeof v !== 'string' || !/^\d{1,80}$/.test(v)) return bad();
    const n = BigInt(v);
    return n >= min && n <= max ? ok(n) : bad();
  });
}

export function oneOf<const T extends string>(values: readonly T[]): Rule<T> {
  return rule(`one of ${values.join(', ')}`, (v) =>
    typeof v === 'string' && (values as readonly string[]).includes(v) ? ok(v as T) : bad(),
  );
}

/** A sha-256 content id in EMETH Storage. */
export const BLOB_ID_PATTERN = /^[0-9a-f]{64}$/;
export function blobId(): Rule<string> {
  return string({
    maxLength: 64,
    pattern: BLOB_ID_PATTERN,
    expect: 'a blob id (64 lower-case hex characters, the sha-256 of the blob)',
  });
}

export const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;

/** Query-string variants: every value arrives as a string. */
export const query = {
  integer(min: number, max: number): Rule<number> {
    return rule(`an integer between ${min} and ${max}`, (v) => {
      if (typeof v !== 'string' || !/^-?\d{1,16}$/.test(v)) return bad();
      const n = Number(v);
      return n >= min && n <= max ? ok(n) : bad();
    });
  },
  boolean(): Rule<boolean> {
    return rule('true or false', (v) => (v === 'true' ? ok(true) : v === 'false' ? ok(false) : bad()));
  },
};

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `a ${typeof v}`;
}

/**
 * Validates a JSON object (a body, or a query with `where: 'query parameter'`). Returns the typed
 * values with defaults applied; throws 400 at the first unknown or invalid field.
 */
export function parseObject<S extends Shape>(
  shape: S,
  input: unknown,
  opts: { where?: 'field' | 'query parameter'; what?: string } = {},
): ObjectOutput<S> {
  const where = opts.where ?? 'field';
  const what = opts.what ?? 'the body';
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw badRequest('invalid_body', `${what} must be a JSON object, got ${describeValue(input)}`);
  }
  const record = input as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !Object.hasOwn(shape, k));
  if (unknown.length > 0) {
    throw badRequest(
      'unknown_field',
      `unknown ${where}${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; allowed: ${Object.keys(shape).join(', ')}`,
      unknown[0],
    );
  }
  const out: Record<string, unknown> = {};
  for (const [name, r] of Object.entries(shape)) {
    const value = record[name];
    if (value === undefined) {
      if (!r.optional) throw badRequest('missing_field', `${name} is required: ${r.expect}`, name);
      out[name] = r.fallback;
      continue;
    }
    const parsed = r.parse(value);
    if (!parsed.ok) {
      throw badRequest(
        'invalid_field',
        `${name} must be ${r.expect}; got ${describeValue(value)}${parsed.problem ? ` (${parsed.problem})` : ''}`,
        name,
      );
    }
    out[name] = parsed.value;
  }
  return out as ObjectOutput<S>;
}
