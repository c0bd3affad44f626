/**
 * Jobs: the POST /v1/jobs body (common fields plus one program's parameters, from
 * activities/programs/params.ts), the list query, the Job views and the six operations.
 *
 * The body stays flat: one variant per program, told apart by `programId`. Rules between fields
 * that JSON Schema can state (exactly one of dataset/datasetBase64 and of deadline/deadlineSeconds;
 * numParallel 1 without splitting) are written once below as data, rendered into the document and
 * checked from the same data.
 */
import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { PROGRAM_PARAMS, programParamsOf, type AnyProgramFields } from '../../activities/programs/params';
import { findProgramSpec } from '../../lib/programs';
import { blobIdField, intField, textField } from '../../lib/schema-fields';
import { JOB_STATUSES } from '../../lib/types';
import { badRequest } from '../errors';
import {
  AUTH_ERRORS,
  JobIdParam,
  SIGNED_OR_KEY,
  capabilityClass,
  error,
  ok,
  queryInt,
  z,
  type Operation,
} from './common';
import { CancelAccepted, Checkpoints, Job, JobList, JobResult } from './job-views';
import { asRecord, parseRecord, refuseUnknown } from './parse';

export const MAX_FUEL = 10n ** 30n;
export const MAX_DATASET_BYTES = 16 * 1024 * 1024;
/** Base64 of MAX_DATASET_BYTES: the decoded dataset is at most 16 MiB (+ 2 bytes of rounding). */
const MAX_DATASET_BASE64 = 4 * Math.ceil(MAX_DATASET_BYTES / 3);
export const MAX_DEADLINE_SECONDS = 30 * 24 * 3600;
const MAX_PROGRAM_ID = 2_147_483_647;

/** Every calendar-valid ISO-8601 date-time with a zone that `new Date` reads (no month 13, no second 60). */
const ISO_8601 =
  /^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$/;
/** Canonical base64 of at least one byte, padding optional. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

// ---------------------------------------------------------------------------------------------
// POST /v1/jobs

const head = {
  dataset: blobIdField('blob id of the dataset (or send datasetBase64)').optional(),
  datasetBase64: textField({
    pattern: BASE64,
    minLength: 2,
    maxLength: MAX_DATASET_BASE64,
    expect: `base64 of 1 to ${MAX_DATASET_BYTES} bytes`,
    description: 'the dataset bytes, base64 (at most 16 MiB); stored as a blob owned by the requester',
  }).optional(),
};

const tail = {
  numParallel: intField(1, 256, 'SubJobs the dataset is split into'),
  fuelLimit: textField({
    // 1 … 10^30, leading zeros allowed: amounts exceed 2^53, so strings, never JSON numbers.
    pattern: /^0*(?:[1-9][0-9]{0,29}|10{30})$/,
    maxLength: 80,
    expect: 'a decimal string of an integer between 1 and 10^30',
    description: 'fuel for the whole Job, decimal string, 1 to 10^30',
  }),
  fuelPrice: textField({
    pattern: /^(?:0*[1-9][0-9]{0,29}|0*10{30}|0+)$/,
    maxLength: 80,
    expect: 'a decimal string (holon per fuel) of an integer between 0 and 10^30',
    description: "holon per fuel, decimal string, at least the program's minimum",
  }),
  deadline: textField({
    pattern: ISO_8601,
    maxLength: 40,
    expect: 'an ISO-8601 date-time with a time zone, e.g. 2030-01-01T00:00:00Z',
    description: 'in the future and at most 30 days away (400 deadline_out_of_range otherwise)',
  }).optional(),
  deadlineSeconds: intField(1, MAX_DEADLINE_SECONDS, 'seconds from now').optional(),
  splitAllowed: z.boolean('true or false').default(true),
  capabilityClass: capabilityClass(
    'a capability class (lower-case letters, digits and -, at most 32), e.g. cpu',
  ).default('cpu'),
  layer: z.enum(['l2', 'l1'], "'l2' or 'l1'").default('l2').openapi({
    description:
      "where the Job's money moves: 'l2' (default: off chain, paid by batched tickets) or 'l1' (every step on EmethCore: request, process, submit, verify; paper 7-2). 'l1' needs l1Request and a dataset blob id, and runs one round (numEpoch 1, no replicate)",
  }),
  l1Request: z
    .strictObject({
      jobId: textField({
        pattern: /^0x[0-9a-f]{64}$/,
        maxLength: 66,
        expect: 'the Job id you chose, 0x and 64 lower-case hex digits',
        description: 'the Job id the Request names; the Job gets this id on chain and here',
      }),
      signature: textField({
        pattern: /^0x[0-9a-fA-F]{130}$/,
        maxLength: 132,
        expect: 'a 65-byte signature in hex (0x…)',
        description:
          "the requester's EIP-712 Request(requester, jobId, programId, fuelLimit, fuelPrice, deadline = the Job's deadline in unix seconds, dataset = keccak256 of the dataset blob id) under EmethCore's domain",
      }),
    })
    .optional()
    .openapi({
      description:
        "layer 'l1': the requester's signed Request, relayed on chain by the L2 (EmethL1.requestFor): the Job's feeLimit + verifierFee leave the requester's deposit for the Job's escrow",
    }),
  commit: z
    .strictObject({
      jobId: textField({
        pattern: /^0x[0-9a-f]{64}$/,
        maxLength: 66,
        expect: 'the Job id you chose, 0x and 64 lower-case hex digits',
        description: 'the Job id the commitment names; the Job gets this id',
      }),
      deadline: z
        .int('an integer (unix seconds)')
        .min(1)
        .max(2 ** 40)
        .openapi({
          description:
            "unix seconds: until then nodes may redeem the Job's tickets (at least a day after the Job's deadline)",
        }),
      signature: textField({
        pattern: /^0x[0-9a-fA-F]{130}$/,
        maxLength: 132,
        expect: 'a 65-byte signature in hex (0x…)',
        description:
          "the requester's EIP-712 Commit(requester, jobId, amount = feeLimit + verifierFee, deadline) under EmethCore's domain",
      }),
    })
    .optional()
    .openapi({
      description:
        "the requester's authorization for the L2 to commit the Job's feeLimit + verifierFee of its deposit on EmethCore (withdrawals cannot take committed money); without it the Job cannot be paid and fails at reservation",
    }),
};

/** Pairs of which exactly one is sent; the refusal names the first of the pair. */
const EXACTLY_ONE = [
  {
    fields: ['dataset', 'datasetBase64'],
    message: 'send exactly one of dataset (a blob id) and datasetBase64 (the bytes, base64)',
  },
  {
    fields: ['deadline', 'deadlineSeconds'],
    message: 'send exactly one of deadline (ISO-8601) and deadlineSeconds (seconds from now)',
  },
] as const;

const CROSS_FIELD_JSON_SCHEMA = [
  ...EXACTLY_ONE.map((r) => ({ oneOf: r.fields.map((f) => ({ required: [f] })) })),
  {
    if: { properties: { splitAllowed: { const: false } }, required: ['splitAllowed'] },
    then: { properties: { numParallel: { const: 1 } } },
  },
];

function crossFieldRules(body: { [k: string]: unknown; splitAllowed: boolean; numParallel: number }): void {
  for (const rule of EXACTLY_ONE) {
    if (rule.fields.filter((f) => body[f] !== undefined).length !== 1)
      throw badRequest('invalid_field', rule.message, rule.fields[0]);
  }
  if (!body.splitAllowed && body.numParallel !== 1) {
    throw badRequest(
      'invalid_field',
      'numParallel must be 1 when splitAllowed is false (the Job runs as one SubJob)',
      'numParallel',
    );
  }
}

const programName = (programId: number) => findProgramSpec(programId)?.name ?? `program ${programId}`;

/** One body per program: programId, dataset, that program's parameters, then fuel, deadline, placement. */
const variants = new Map(
  Object.entries(PROGRAM_PARAMS).map(([id, params]) => {
    const programId = Number(id);
    const schema = z
      .strictObject({
        programId: z
          .literal(programId, `an active parent program id`)
          .openapi({ description: `${programId} = ${programName(programId)}` }),
        ...head,
        ...params.schema.shape,
        ...tail,
      })
      .openapi(`CreateJob.${programName(programId)}`);
    return [programId, schema] as const;
  }),
);

/** A programId with no parameter schema here: checked for shape, then refused by the program table. */
const unknownProgram = z.object({
  programId: intField(1, MAX_PROGRAM_ID),
  ...head,
  ...tail,
});

const ALL_FIELDS = [
  ...new Set([...variants.values()].flatMap((v) => Object.keys(v.shape))),
] as readonly string[];

export const CreateJobBody = z
  .union([...variants.values()] as unknown as [z.ZodObject, z.ZodObject, ...z.ZodObject[]])
  .openapi('CreateJob', {
    description:
      'Flat: the common fields plus the parameters of the program `programId` names. Exactly one of ' +
      'dataset/datasetBase64 and one of deadline/deadlineSeconds; numParallel 1 when splitAllowed is false.',
    allOf: CROSS_FIELD_JSON_SCHEMA,
  } as object);

export type CreateJobInput = z.output<typeof unknownProgram> & AnyProgramFields;

/**
 * Checks a POST /v1/jobs body: unknown fields, then each field in order, then the rules between
 * fields, then the program's own rules. A programId without a parameter schema here passes its
 * common fields only; the route refuses it by the program table.
 */
export function parseCreateJob(input: unknown): CreateJobInput {
  const record = asRecord(input);
  const params = typeof record.programId === 'number' ? programParamsOf(record.programId) : undefined;
  const variant = params ? variants.get(record.programId as number)! : undefined;
  refuseUnknown(record, variant ? Object.keys(variant.shape) : ALL_FIELDS);
  if (!variant || !params) {
    const common = parseRecord(unknownProgram, record);
    crossFieldRules(common);
    return common;
  }
  const name = programName(record.programId as number);
  const body = parseRecord(variant, record, {
    requiredFor: { fields: new Set(Object.keys(params.schema.shape)), name },
  }) as CreateJobInput;
  crossFieldRules(body);
  // The program's rules between its own fields (e.g. min below max).
  const own = Object.fromEntries(Object.keys(params.schema.shape).map((k) => [k, record[k]]));
  parseRecord(params.schema, own);
  return body;
}

// ---------------------------------------------------------------------------------------------
// Queries and paths

export const ListJobsQuery = z.strictObject({
  status: z.enum(JOB_STATUSES, `one of ${JOB_STATUSES.join(', ')}`).optional(),
  programId: queryInt(1, MAX_PROGRAM_ID).optional(),
  limit: queryInt(1, 100).default(20),
  cursor: textField({
    pattern: /^[A-Za-z0-9_-]*$/,
    maxLength: 200,
    expect: 'a nextCursor from a previous page',
    description:
      'nextCursor of the previous page; empty or absent: the first page. One this API did not return is refused with 400 invalid_cursor',
  }).optional(),
});

export const JobPath = z.object({ id: JobIdParam });

export const RESULT_FORMATS = ['npy', 'npz', 'csv'] as const;

export const JobResultQuery = z.strictObject({
  format: z
    .enum(RESULT_FORMATS, `one of ${RESULT_FORMATS.join(', ')}`)
    .optional()
    .openapi({
      description:
        'the result converted: npy (one output), npz (every output, by name), csv (1-D and 2-D outputs as columns); absent: this JSON description',
    }),
});

// ---------------------------------------------------------------------------------------------
// Operations

const OWN_JOB_ERRORS: Record<string, ResponseConfig> = {
  ...AUTH_ERRORS,
  '403': error('another requester’s Job'),
  '404': error('no such Job'),
};

export const jobOperations = {
  createJob: {
    method: 'post',
    path: '/v1/jobs',
    summary: 'Submit a Job',
    security: SIGNED_OR_KEY,
    request: {
      body: { required: true, content: { 'application/json': { schema: CreateJobBody } } },
    },
    responses: {
      '201': ok('accepted; its workflow is started', Job),
      ...AUTH_ERRORS,
      '402': error('the free deposit does not cover feeLimit + verifierFee'),
      '403': error('a referenced blob belongs to someone else'),
      '503': error('the chain or Temporal could not be reached; nothing was reserved'),
    },
  },
  listJobs: {
    method: 'get',
    path: '/v1/jobs',
    summary: "The caller's Jobs, newest first",
    security: SIGNED_OR_KEY,
    request: { query: ListJobsQuery },
    responses: { '200': ok('a page', JobList), ...AUTH_ERRORS },
  },
  getJob: {
    method: 'get',
    path: '/v1/jobs/{id}',
    summary: 'One Job: status, fees, SubJobs, progress, Temporal UI link (its requester only)',
    security: SIGNED_OR_KEY,
    request: { params: JobPath },
    responses: { '200': ok('the Job', Job), ...OWN_JOB_ERRORS },
  },
  cancelJob: {
    method: 'post',
    path: '/v1/jobs/{id}/cancel',
    summary: 'Cancel a Job (signals its workflow)',
    security: SIGNED_OR_KEY,
    request: { params: JobPath },
    responses: {
      '202': ok('cancel signalled', CancelAccepted),
      ...OWN_JOB_ERRORS,
      '409': error('the Job already ended'),
    },
  },
  getJobResult: {
    method: 'get',
    path: '/v1/jobs/{id}/result',
    summary: 'The result blob of a completed Job',
    security: SIGNED_OR_KEY,
    request: { params: JobPath, query: JobResultQuery },
    responses: {
      '200': {
        description: 'the result: its description, or with `format` its bytes in that format',
        content: {
          'application/json': { schema: JobResult },
          'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) },
        },
      },
      '400': error('the result cannot be written in that format (e.g. several outputs as .npy)'),
      ...OWN_JOB_ERRORS,
      '409': error('not completed yet, or (with format) the stored result is not a tensor file'),
    },
  },
  getJobCheckpoints: {
    method: 'get',
    path: '/v1/jobs/{id}/checkpoints',
    summary: 'A training Job’s global model after each epoch, with accuracy and loss on its test set',
    security: SIGNED_OR_KEY,
    request: { params: JobPath },
    responses: { '200': ok('the checkpoints so far', Checkpoints), ...OWN_JOB_ERRORS },
  },
} satisfies Record<string, Operation>;
