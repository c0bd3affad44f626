/**
 * Field types for the REST contract (api/schemas) and the programs' parameter schemas
 * (activities/programs/*-params.ts), as zod schemas. Each carries, as its error message, the
 * phrase that completes "<field> must be …": the gateway turns a zod issue into
 * "numParallel must be an integer between 1 and 256; got 1000" in one place (api/schemas/parse.ts),
 * so every refusal names what a valid value looks like. Each also renders as an exact JSON Schema
 * (pattern, minimum, maximum, maxLength) in the OpenAPI document: what the gateway refuses, the
 * document refuses too.
 *
 * Pure: no I/O, safe to import from programs and workflows alike.
 */
import { z } from 'zod';

export const BLOB_ID_PATTERN = /^[0-9a-f]{64}$/;
export const BLOB_ID_EXPECT = 'a blob id (64 lower-case hex characters, the sha-256 of the blob)';

/** A sha-256 content id in EMETH Storage. */
export function blobIdField(description: string) {
  return z.string(BLOB_ID_EXPECT).regex(BLOB_ID_PATTERN, BLOB_ID_EXPECT).meta({ description });
}

/** An integer in [min, max]; the phrase names the range. */
export function intField(min: number, max: number, description?: string) {
  const expect = `an integer between ${min} and ${max}`;
  const field = z.int(expect).min(min, expect).max(max, expect);
  return description ? field.meta({ description }) : field;
}

/** Any finite JSON number. */
export function numberField(description?: string) {
  const field = z.number('a finite number');
  return description ? field.meta({ description }) : field;
}

/** A string of bounded length matching `pattern`; `expect` completes "<field> must be …". */
export function textField(opts: {
  pattern: RegExp;
  maxLength: number;
  expect: string;
  minLength?: number;
  description?: string;
}) {
  let field = z.string(opts.expect).max(opts.maxLength, opts.expect).regex(opts.pattern, opts.expect);
  if (opts.minLength !== undefined) field = field.min(opts.minLength, opts.expect);
  return opts.description ? field.meta({ description: opts.description }) : field;
}

/**
 * `numEpoch` for a program that runs one epoch: absent or 1. Only training runs epochs, so any
 * other value is refused with the program named.
 */
export function singleEpochField(programName: string) {
  return z
    .literal(1, `1 for ${programName} (only training runs epochs)`)
    .optional()
    .meta({ description: `${programName} runs one epoch: absent or 1` });
}

/** A rule between two fields that JSON Schema cannot state; refused with its own code, not a shape code. */
export const RANGE_ISSUE = 'invalid_range';
