/**
 * Jobs: submit (checks the program, the fee, the blobs and the requester's free deposit, then
 * writes the Job row and starts its workflow), read one with its SubJobs and live progress, list
 * the caller's, cancel, and fetch the result. The workflow owns the Job's life after submission;
 * the gateway only reads rows, queries and signals.
 */
import { Router, type Request } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { feeLimitOf, formatEmeth, verifierFeeOf } from '../../lib/fees';
import { jobWorkflowId, newJobId } from '../../lib/ids';
import { QUERIES, SIGNALS } from '../../lib/pipeline';
import { findProgramSpec } from '../../lib/programs';
import { EmethJobId, EmethProgramId, EmethRequester, EmethStatus } from '../../lib/search-attributes';
import { JOB_STATUSES, TERMINAL_JOB_STATUSES, type JobProgress, type JobStatus } from '../../lib/types';
import { committedDeposit } from '../../prisma/ledger';
import type { Prisma } from '../../prisma/client';
import type { Authenticator } from '../auth';
import type { ApiContext } from '../deps';
import { HttpError, badRequest, conflict, forbidden, notFound } from '../errors';
import { authenticated, callerOf, jsonBody, queryObject } from '../http';
import {
  blobId,
  boolean,
  decimalString,
  finiteNumber,
  integer,
  oneOf,
  optional,
  parseObject,
  query,
  string,
} from '../validate';
import { canReadBlob } from '../blob-access';
import {
  jobSummaryView,
  progressFromRows,
  subJobView,
  temporalUiLink,
  holon,
  type JobView,
  type ProgressView,
} from '../views';

export const MAX_FUEL = 10n ** 30n;
export const MAX_DATASET_BYTES = 16 * 1024 * 1024;
const MAX_DATASET_BASE64 = 4 * Math.ceil(MAX_DATASET_BYTES / 3);
export const MAX_DEADLINE_SECONDS = 30 * 24 * 3600;
export const CAPABILITY_CLASS_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
const JOB_ID_PATTERN = /^0x[0-9a-f]{64}$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

export const createJobShape = {
  programId: integer(1, 2_147_483_647),
  dataset: optional(blobId()),
  datasetBase64: optional(
    string({
      maxLength: MAX_DATASET_BASE64,
      pattern: /^[A-Za-z0-9+/]*={0,2}$/,
      expect: `base64 of at most ${MAX_DATASET_BYTES} bytes`,
    }),
  ),
  model: optional(blobId()),
  // fedavg-train: the train-step graph, the requester's CKKS public key, the initial model, an
  // optional held-out set the keyholder measures each epoch on, and the local training settings.
  numEpoch: optional(integer(1, 100), 1),
  trainGraph: optional(blobId()),
  publicKey: optional(blobId()),
  initialModel: optional(blobId()),
  testSet: optional(blobId()),
  localSteps: optional(integer(1, 10_000)),
  learningRate: optional(
    string({
      maxLength: 20,
      pattern: /^(0|[1-9]\d*)?(\.\d+)?$/,
      expect: 'a positive decimal number such as 0.1',
    }),
  ),
  batchSize: optional(integer(0, 1_000_000)),
  // encrypted-stats: the histogram's bins over [min, max) per column (publicKey as for training).
  bins: optional(integer(1, 1024)),
  min: optional(finiteNumber()),
  max: optional(finiteNumber()),
  numParallel: integer(1, 256),
  fuelLimit: decimalString(1n, MAX_FUEL, 'a decimal string'),
  fuelPrice: decimalString(0n, MAX_FUEL, 'a decimal string (holon per fuel)'),
  deadline: optional(
    string({
      maxLength: 40,
      pattern: ISO_8601,
      expect: 'an ISO-8601 date-time with a time zone, e.g. 2030-01-01T00:00:00Z',
    }),
  ),
  deadlineSeconds: optional(integer(1, MAX_DEADLINE_SECONDS)),
  splitAllowed: optional(boolean(), true),
  capabilityClass: optional(
    string({
      maxLength: 32,
      pattern: CAPABILITY_CLASS_PATTERN,
      expect: 'a capability class (lower-case letters, digits and -, at most 32), e.g. cpu',
    }),
    'cpu',
  ),
};

const listShape = {
  status: optional(oneOf(JOB_STATUSES)),
  programId: optional(query.integer(1, 2_147_483_647)),
  limit: optional(query.integer(1, 100), 20),
  cursor: optional(
    string({ maxLength: 200, pattern: /^[A-Za-z0-9_-]+$/, expect: 'a nextCursor from a previous page' }),
  ),
};

type JobRow = Prisma.JobGetPayload<object>;

function encodeCursor(job: Pick<JobRow, 'createdAt' | 'id'>): string {
  return Buffer.from(`${job.createdAt.toISOString()}|${job.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !JOB_ID_PATTERN.test(id) || Number.isNaN(createdAt.getTime())) {
    throw badRequest(
      'invalid_query',
      'cursor is not a nextCursor this API returned; start again without it',
      'cursor',
    );
  }
  return { createdAt, id };
}

const describe = (holonAmount: bigint) => `${holonAmount} holon (${formatEmeth(holonAmount)} EMETH)`;

export function jobsRouter(ctx: ApiContext, auth: Authenticator): Router {
  const router = Router();
  const link = (workflowId: string) => temporalUiLink(ctx.temporalUiUrl, ctx.namespace, workflowId);

  /** Holon the requester can still commit: on-chain free deposit − what the L2 committed − Jobs not reserved yet. */
  async function freeToCommit(requester: string): Promise<bigint> {
    let onChain: bigint;
    try {
      onChain = await ctx.chain.freeDeposit(requester);
    } catch (err) {
      throw new HttpError(
        503,
        'chain_unavailable',
        `could not read the deposit of ${requester} from EmethCore (${(err as Error).message}); try again shortly`,
      );
    }
    const [committed, unreserved] = await Promise.all([
      committedDeposit(ctx.prisma, requester),
      // Submitted Jobs whose workflow has not reserved yet hold no ledger entry: count them too, so
      // two quick submissions cannot both spend the same deposit.
      ctx.prisma.job.findMany({
        where: { requester, status: 'submitted' },
        select: { id: true, fuelLimit: true, fuelPrice: true, verifierFee: true },
      }),
    ]);
    const reservedIds = new Set(
      (
        await ctx.prisma.ledgerEntry.findMany({
          where: { jobId: { in: unreserved.map((j) => j.id) }, kind: 'reserve' },
          select: { jobId: true },
        })
      ).map((l) => l.jobId),
    );
    const pending = unreserved
      .filter((j) => !reservedIds.has(j.id))
      .reduce(
        (sum, j) =>
          sum + BigInt(holon(j.fuelLimit)) * BigInt(holon(j.fuelPrice)) + BigInt(holon(j.verifierFee)),
        0n,
      );
    return onChain - committed - pending;
  }

  async function checkBlob(requester: string, id: string, field: string): Promise<void> {
    if (!(await ctx.store.has(id))) {
      throw badRequest(
        'unknown_blob',
        `${field} ${id} is not in EMETH Storage; upload it with PUT /v1/blobs first`,
        field,
      );
    }
    if (!(await canReadBlob(ctx.prisma, ctx.readAll, requester, id))) {
      throw forbidden(
        'blob_forbidden',
        `${field} ${id} was uploaded by someone else; upload your own copy with PUT /v1/blobs`,
        field,
      );
    }
  }

  async function ownJob(req: Request, requester: string): Promise<JobRow> {
    const id = String(req.params.id ?? '').toLowerCase();
    if (!JOB_ID_PATTERN.test(id))
      throw badRequest(
        'invalid_parameter',
        `"${req.params.id}" is not a Job id (0x and 64 hex characters)`,
        'id',
      );
    const job = await ctx.prisma.job.findUnique({ where: { id } });
    if (!job) throw notFound('job_not_found', `no Job ${id}`);
    if (job.requester !== requester)
      throw forbidden(
        'not_your_job',
        `Job ${id} belongs to another requester; only its requester may read or cancel it`,
      );
    return job;
  }

  router.post('/', authenticated(auth), async (req, res) => {
    const requester = callerOf(res).address;
    const body = parseObject(createJobShape, jsonBody(req));
    const now = ctx.now();

    if ((body.dataset === undefined) === (body.datasetBase64 === undefined)) {
      throw badRequest(
        'invalid_field',
        'send exactly one of dataset (a blob id) and datasetBase64 (the bytes, base64)',
        'dataset',
      );
    }
    if ((body.deadline === undefined) === (body.deadlineSeconds === undefined)) {
      throw badRequest(
        'invalid_field',
        'send exactly one of deadline (ISO-8601) and deadlineSeconds (seconds from now)',
        'deadline',
      );
    }
    const deadline =
      body.deadline !== undefined ? new Date(body.deadline) : new Date(now + body.deadlineSeconds! * 1000);
    if (Number.isNaN(deadline.getTime()))
      throw badRequest('invalid_field', `deadline "${body.deadline}" is not a valid date`, 'deadline');
    if (deadline.getTime() <= now)
      throw badRequest(
        'invalid_field',
        `deadline ${deadline.toISOString()} is not in the future`,
        'deadline',
      );
    if (deadline.getTime() > now + MAX_DEADLINE_SECONDS * 1000) {
      throw badRequest(
        'invalid_field',
        `deadline ${deadline.toISOString()} is more than 30 days away`,
        'deadline',
      );
    }
    if (!body.splitAllowed && body.numParallel !== 1) {
      throw badRequest(
        'invalid_field',
        'numParallel must be 1 when splitAllowed is false (the Job runs as one SubJob)',
        'numParallel',
      );
    }

    const program = await ctx.prisma.program.findUnique({ where: { id: body.programId } });
    if (!program || !program.active) {
      const active = await ctx.prisma.program.findMany({
        where: { active: true, subProgramId: { not: null } },
        orderBy: { id: 'asc' },
      });
      throw badRequest(
        'unknown_program',
        `programId ${body.programId} is not an active program; active: ${active.map((p) => `${p.id} (${p.name})`).join(', ') || 'none'}`,
        'programId',
      );
    }
    if (program.subProgramId === null) {
      throw badRequest(
        'unknown_program',
        `programId ${program.id} (${program.name}) is a SubJob program; submit its parent program`,
        'programId',
      );
    }
    const minFuelPrice = BigInt(holon(program.minFuelPrice));
    if (body.fuelPrice < minFuelPrice) {
      throw badRequest(
        'fee_below_minimum',
        `fuelPrice ${body.fuelPrice} is below the minimum of ${program.name}: ${minFuelPrice} holon per fuel`,
        'fuelPrice',
      );
    }
    const spec = findProgramSpec(program.id);
    if (spec?.name === 'onnx-inference' && body.model === undefined) {
      throw badRequest(
        'missing_field',
        'model is required for onnx-inference: the blob id of the ONNX model',
        'model',
      );
    }

    if (spec?.name === 'fedavg-train') {
      for (const field of ['trainGraph', 'publicKey', 'initialModel'] as const) {
        if (body[field] === undefined) {
          throw badRequest('missing_field', `${field} is required for fedavg-train: a blob id`, field);
        }
      }
    } else if (spec?.name === 'encrypted-stats') {
      for (const field of ['publicKey', 'min', 'max'] as const) {
        if (body[field] === undefined) {
          const what =
            field === 'publicKey'
              ? 'the blob id of your CKKS public key (emeth keyholder start uploads it)'
              : 'a number, an end of the histogram range';
          throw badRequest('missing_field', `${field} is required for encrypted-stats: ${what}`, field);
        }
      }
      if (!(body.min! < body.max!))
        throw badRequest('invalid_field', `min (${body.min}) must be below max (${body.max})`, 'min');
    }
    if (spec?.name !== 'fedavg-train' && body.numEpoch !== 1) {
      throw badRequest(
        'invalid_field',
        `numEpoch must be 1 for ${program.name}: only training runs epochs`,
        'numEpoch',
      );
    }
    for (const field of ['trainGraph', 'publicKey', 'initialModel', 'testSet'] as const) {
      if (body[field] !== undefined) await checkBlob(requester, body[field]!, field);
    }
    if (body.dataset !== undefined) await checkBlob(requester, body.dataset, 'dataset');
    if (body.model !== undefined) await checkBlob(requester, body.model, 'model');
    let datasetBytes: Buffer | undefined;
    if (body.datasetBase64 !== undefined) {
      datasetBytes = Buffer.from(body.datasetBase64, 'base64');
      if (datasetBytes.length === 0)
        throw badRequest('invalid_field', 'datasetBase64 decodes to no bytes', 'datasetBase64');
      if (datasetBytes.length > MAX_DATASET_BYTES) {
        throw badRequest(
          'invalid_field',
          `datasetBase64 decodes to ${datasetBytes.length} bytes, more than ${MAX_DATASET_BYTES}; use PUT /v1/blobs`,
          'datasetBase64',
        );
      }
    }

    const feeLimit = feeLimitOf(body.fuelLimit, body.fuelPrice);
    const verifierFee = verifierFeeOf(feeLimit);
    const needed = feeLimit + verifierFee;
    const free = await freeToCommit(requester);
    if (free < needed) {
      throw new HttpError(
        402,
        'insufficient_deposit',
        `the free deposit of ${requester} is ${describe(free < 0n ? 0n : free)} but this Job needs ${describe(needed)} (feeLimit + verifierFee); deposit at least ${describe(needed - (free < 0n ? 0n : free))} more on EmethCore`,
      );
    }

    let dataset = body.dataset!;
    if (datasetBytes) {
      dataset = await ctx.store.put(datasetBytes);
      await ctx.prisma.blob.upsert({
        where: { id_uploader: { id: dataset, uploader: requester } },
        create: { id: dataset, uploader: requester, size: datasetBytes.length },
        update: {},
      });
    }

    const jobId = newJobId();
    const workflowId = jobWorkflowId(jobId);
    res.locals.jobId = jobId;
    const job = await ctx.prisma.job.create({
      data: {
        id: jobId,
        workflowId,
        requester,
        programId: program.id,
        dataset,
        params: jobParams(body),
        numEpoch: body.numEpoch,
        numParallel: body.numParallel,
        splitAllowed: body.splitAllowed,
        capabilityClass: body.capabilityClass,
        fuelLimit: body.fuelLimit.toString(),
        fuelPrice: body.fuelPrice.toString(),
        verifierFee: verifierFee.toString(),
        deadline,
        status: 'submitted',
      },
    });
    try {
      await ctx.temporal.workflow.start('jobWorkflow', {
        taskQueue: ctx.l2TaskQueue,
        workflowId,
        args: [{ jobId }],
        typedSearchAttributes: [
          { key: EmethJobId, value: jobId },
          { key: EmethRequester, value: requester },
          { key: EmethProgramId, value: program.id },
          { key: EmethStatus, value: 'submitted' },
        ],
      });
    } catch (err) {
      // No workflow, no Job: remove the row so it neither holds deposit nor shows as submitted forever.
      await ctx.prisma.job.delete({ where: { id: jobId } }).catch(() => undefined);
      req.log.error({ err, jobId }, 'could not start the Job workflow');
      throw new HttpError(
        503,
        'temporal_unavailable',
        `the Job workflow could not be started (${(err as Error).message}); nothing was reserved, submit again`,
      );
    }
    req.log.info({ jobId, requester, programId: program.id, feeLimit: feeLimit.toString() }, 'Job submitted');
    const view: JobView = { ...jobSummaryView(job, link), subJobs: [], progress: progressFromRows(job, []) };
    res.status(201).location(`/v1/jobs/${jobId}`).json(view);
  });

  router.get('/', authenticated(auth), async (req, res) => {
    const requester = callerOf(res).address;
    const q = parseObject(listShape, queryObject(req), { where: 'query parameter', what: 'the query' });
    const after = q.cursor ? decodeCursor(q.cursor) : undefined;
    const rows = await ctx.prisma.job.findMany({
      where: {
        requester,
        ...(q.status ? { status: q.status } : {}),
        ...(q.programId !== undefined ? { programId: q.programId } : {}),
        ...(after
          ? {
              OR: [
                { createdAt: { lt: after.createdAt } },
                { createdAt: after.createdAt, id: { lt: after.id } },
              ],
            }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    res.json({
      jobs: page.map((j) => jobSummaryView(j, link)),
      nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!) : null,
    });
  });

  router.get('/:id', authenticated(auth), async (req, res) => {
    const job = await ownJob(req, callerOf(res).address);
    res.locals.jobId = job.id;
    const subJobs = await ctx.prisma.subJob.findMany({
      where: { jobId: job.id },
      orderBy: [{ epoch: 'asc' }, { index: 'asc' }],
    });
    let progress: ProgressView = progressFromRows(job, subJobs);
    if (!TERMINAL_JOB_STATUSES.includes(job.status as JobStatus)) {
      const live = await queryProgress(job.workflowId);
      if (live) progress = { ...live, source: 'workflow' };
      else req.log.debug({ jobId: job.id }, 'progress query did not answer; derived from rows');
    }
    const view: JobView = { ...jobSummaryView(job, link), subJobs: subJobs.map(subJobView), progress };
    res.json(view);
  });

  /** The workflow's own progress, or undefined when it does not answer in time (no worker, busy, ended). */
  async function queryProgress(workflowId: string): Promise<JobProgress | undefined> {
    const timeoutMs = ctx.progressQueryTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const query = ctx.temporal
      .withDeadline(Date.now() + timeoutMs, () =>
        ctx.temporal.workflow.getHandle(workflowId).query<JobProgress>(QUERIES.progress),
      )
      .catch(() => undefined);
    const timeout = new Promise<undefined>(
      (resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs + 100)),
    );
    try {
      return await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  router.post('/:id/cancel', authenticated(auth), async (req, res) => {
    const job = await ownJob(req, callerOf(res).address);
    res.locals.jobId = job.id;
    if (TERMINAL_JOB_STATUSES.includes(job.status as JobStatus)) {
      throw conflict('job_ended', `Job ${job.id} already ended (${job.status}); there is nothing to cancel`);
    }
    try {
      await ctx.temporal.workflow.getHandle(job.workflowId).signal(SIGNALS.cancel);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw conflict(
          'job_ended',
          `the workflow of Job ${job.id} is no longer running; there is nothing to cancel`,
        );
      }
      throw err;
    }
    req.log.info({ jobId: job.id }, 'cancel requested');
    res.status(202).json({
      id: job.id,
      status: job.status,
      cancelRequested: true,
      message: 'cancel signalled: unverified work stops, verified work is paid, the rest is refunded',
    });
  });

  router.get('/:id/result', authenticated(auth), async (req, res) => {
    const job = await ownJob(req, callerOf(res).address);
    res.locals.jobId = job.id;
    if (job.status !== 'completed' || !job.result) {
      throw conflict(
        'job_not_completed',
        `Job ${job.id} is ${job.status}; its result exists once it is completed`,
      );
    }
    const rows = await ctx.prisma.subJob.aggregate({ where: { jobId: job.id }, _sum: { rows: true } });
    const size = (await ctx.store.has(job.result)) ? await ctx.store.size(job.result) : null;
    res.json({
      jobId: job.id,
      result: job.result,
      size,
      rows: rows._sum.rows ?? null,
      download: `/v1/blobs/${job.result}`,
      fees: jobSummaryView(job, link).fees,
    });
  });

  // Training: the global model after each epoch and how it measured (what the keyholder recorded).
  router.get('/:id/checkpoints', authenticated(auth), async (req, res) => {
    const job = await ownJob(req, callerOf(res).address);
    res.locals.jobId = job.id;
    const rows = await ctx.prisma.checkpoint.findMany({
      where: { jobId: job.id },
      orderBy: { epoch: 'asc' },
    });
    res.json({
      jobId: job.id,
      numEpoch: job.numEpoch,
      checkpoints: rows.map((c) => ({
        epoch: c.epoch,
        model: c.model,
        accuracy: c.accuracy,
        loss: c.loss,
        createdAt: c.createdAt.toISOString(),
      })),
    });
  });

  return router;
}

/** The program parameters a Job row keeps (names as the programs read them). */
function jobParams(body: {
  model?: string;
  trainGraph?: string;
  publicKey?: string;
  initialModel?: string;
  testSet?: string;
  localSteps?: number;
  learningRate?: string;
  batchSize?: number;
  bins?: number;
  min?: number;
  max?: number;
}): Record<string, string> {
  const p: Record<string, string | undefined> = {
    model: body.model,
    trainGraph: body.trainGraph,
    publicKey: body.publicKey,
    initialModel: body.initialModel,
    testSet: body.testSet,
    localSteps: body.localSteps?.toString(),
    learningRate: body.learningRate,
    batchSize: body.batchSize?.toString(),
    bins: body.bins?.toString(),
    min: body.min?.toString(),
    max: body.max?.toString(),
  };
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as Record<string, string>;
}
