// Over 300 lines because it is every /v1/jobs route; they share the Job row's views, access checks and cursor rules.
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
import {
  EmethJobId,
  EmethLayer,
  EmethProgramId,
  EmethRequester,
  EmethStatus,
} from '../../lib/search-attributes';
import { TERMINAL_JOB_STATUSES, type JobProgress, type JobStatus } from '../../lib/types';
import { withRequesterLock } from '../../prisma/ledger';
import { checkRequesterCommit, freeDepositOf } from '../commit-check';
import { datasetId32, recoverL1RequestSigner } from '../../activities/chain/l1-requests';
import { MIN_COMMIT_WINDOW_S } from '../../lib/commit-window';
import { findProgramSpec, InspectionError } from '../../lib/programs';
import type { Prisma } from '../../prisma/client';
import type { Authenticator } from '../auth';
import type { ApiContext } from '../deps';
import { HttpError, badRequest, conflict, forbidden, notFound } from '../errors';
import { authenticated, callerOf, jsonBody, queryObject } from '../http';
import { canReadBlob } from '../blob-access';
import { JOB_ID_PATTERN } from '../schemas/common';
import {
  JobPath,
  JobResultQuery,
  ListJobsQuery,
  MAX_DEADLINE_SECONDS,
  parseCreateJob,
} from '../schemas/jobs';
import { resultAs } from '../result-formats';
import { parsePath, parseQuery } from '../schemas/parse';
import {
  jobSummaryView,
  progressFromRows,
  subJobView,
  chainStepView,
  temporalUiLink,
  holon,
  type JobView,
  type ProgressView,
} from '../views';
import { programParamsOf } from '../../activities/programs/params';

type JobRow = Prisma.JobGetPayload<object>;

function encodeCursor(job: Pick<JobRow, 'createdAt' | 'id'>): string {
  return Buffer.from(`${job.createdAt.toISOString()}|${job.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !JOB_ID_PATTERN.test(id) || Number.isNaN(createdAt.getTime())) {
    throw badRequest(
      'invalid_cursor',
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

  /**
   * The requester's Commit must be its own signature over exactly this Job's amount, for a Job id
   * not used before, open long enough after the deadline for nodes to redeem.
   */
  async function checkCommit(
    requester: string,
    commit: { jobId: string; deadline: number; signature: string },
    amount: bigint,
    deadline: Date,
  ): Promise<string> {
    checkRequesterCommit(ctx.commitDomain, requester, commit, amount, {
      earliest: Math.floor(deadline.getTime() / 1000) + MIN_COMMIT_WINDOW_S,
      earliestWhy: `the Job's deadline + ${MIN_COMMIT_WINDOW_S} s for nodes to redeem`,
      amountIs: 'feeLimit + verifierFee',
      unavailableHint: '; submit without one',
    });
    if (await ctx.prisma.job.findUnique({ where: { id: commit.jobId }, select: { id: true } })) {
      throw conflict(
        'job_exists',
        `a Job ${commit.jobId} exists already: choose a fresh Job id and sign again`,
      );
    }
    return commit.jobId;
  }

  /**
   * Layer 'l1': the requester's own signed Request over exactly this Job (program, fuel, price,
   * deadline, dataset), for a fresh Job id. The L2 relays it; the chain checks it again. Refusals
   * name the field: what the chain's one-round L1 process cannot carry is refused here, not on chain.
   */
  async function checkL1Request(
    requester: string,
    body: ReturnType<typeof parseCreateJob>,
    r: { programId: number; fuelLimit: bigint; fuelPrice: bigint; deadline: Date },
  ): Promise<string> {
    const l1 = body.l1Request;
    if (!l1)
      throw badRequest(
        'invalid_field',
        "layer 'l1' needs l1Request: your EIP-712 Request signature (GatewayClient.submitJob signs one)",
        'l1Request',
      );
    if (body.commit)
      throw badRequest(
        'invalid_field',
        "layer 'l1' takes no commit: the signed Request is the escrow",
        'commit',
      );
    if (body.dataset === undefined)
      throw badRequest(
        'invalid_field',
        "layer 'l1' needs dataset as a blob id (upload it with PUT /v1/blobs): the signed Request names it",
        'dataset',
      );
    if ((body.numEpoch ?? 1) > 1)
      throw badRequest(
        'invalid_field',
        "layer 'l1' runs one round: its SubJobs are registered on chain once; train over epochs on layer 'l2'",
        'numEpoch',
      );
    if ((body as Record<string, unknown>).replicate === true)
      throw badRequest(
        'invalid_field',
        "layer 'l1' runs each SubJob on one node (EmethCore assigns one); replicate on layer 'l2'",
        'replicate',
      );
    if (!ctx.commitDomain) {
      throw new HttpError(
        503,
        'l1_unavailable',
        "this gateway cannot check Request signatures; submit on layer 'l2'",
      );
    }
    const request = {
      requester,
      jobId: l1.jobId,
      programId: r.programId,
      fuelLimit: r.fuelLimit,
      fuelPrice: r.fuelPrice,
      deadline: BigInt(Math.floor(r.deadline.getTime() / 1000)),
      dataset: datasetId32(body.dataset),
    };
    let signer: string;
    try {
      signer = recoverL1RequestSigner(ctx.commitDomain, request, l1.signature).toLowerCase();
    } catch {
      signer = 'nobody (a malformed signature)';
    }
    if (signer !== requester) {
      throw badRequest(
        'invalid_l1_request',
        `l1Request.signature is by ${signer}, not by ${requester} over Request(requester, jobId ${l1.jobId}, programId ${r.programId}, fuelLimit ${r.fuelLimit}, fuelPrice ${r.fuelPrice}, deadline ${request.deadline}, dataset keccak256(${body.dataset}))`,
        'l1Request',
      );
    }
    if (await ctx.prisma.job.findUnique({ where: { id: l1.jobId }, select: { id: true } })) {
      throw conflict('job_exists', `a Job ${l1.jobId} exists already: choose a fresh Job id and sign again`);
    }
    return l1.jobId;
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
    const id = parsePath(JobPath, req.params).id.toLowerCase();
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
    const body = parseCreateJob(jsonBody(req));
    const now = ctx.now();

    // The pattern admits only date-times `new Date` reads; how far away they are is the clock's to say.
    let deadline =
      body.deadline !== undefined ? new Date(body.deadline) : new Date(now + body.deadlineSeconds! * 1000);
    // On L1 the deadline is a whole second on chain; the Job's row keeps exactly that one.
    if (body.layer === 'l1') deadline = new Date(Math.floor(deadline.getTime() / 1000) * 1000);
    if (deadline.getTime() <= now)
      throw badRequest(
        'deadline_out_of_range',
        `deadline ${deadline.toISOString()} is not in the future`,
        'deadline',
      );
    if (deadline.getTime() > now + MAX_DEADLINE_SECONDS * 1000) {
      throw badRequest(
        'deadline_out_of_range',
        `deadline ${deadline.toISOString()} is more than 30 days away`,
        'deadline',
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
    // Decimal strings beyond 2^53, as the schema admits them; leading zeros drop here.
    const fuelLimit = BigInt(body.fuelLimit);
    const fuelPrice = BigInt(body.fuelPrice);
    const minFuelPrice = BigInt(holon(program.minFuelPrice));
    if (fuelPrice < minFuelPrice) {
      throw badRequest(
        'fee_below_minimum',
        `fuelPrice ${fuelPrice} is below the minimum of ${program.name}: ${minFuelPrice} holon per fuel`,
        'fuelPrice',
      );
    }
    const params = programParamsOf(program.id);
    if (!params) {
      throw badRequest(
        'unknown_program',
        `programId ${program.id} (${program.name}) has no parameter schema in this gateway; it cannot be submitted here`,
        'programId',
      );
    }
    if (body.dataset !== undefined) await checkBlob(requester, body.dataset, 'dataset');
    for (const field of params.blobFields) {
      const id = (body as Record<string, unknown>)[field];
      if (typeof id === 'string') await checkBlob(requester, id, field);
    }
    // The pattern and maxLength of datasetBase64 bound it to 1 byte … 16 MiB once decoded.
    const datasetBytes =
      body.datasetBase64 !== undefined ? Buffer.from(body.datasetBase64, 'base64') : undefined;

    let dataset = body.dataset!;
    if (datasetBytes) {
      dataset = await ctx.store.put(datasetBytes);
      // Insert-or-nothing in one statement: two uploads of the same bytes at once must not collide.
      await ctx.prisma.blob.createMany({
        data: [{ id: dataset, uploader: requester, size: datasetBytes.length }],
        skipDuplicates: true,
      });
    }

    // The program inspects the Job before it is accepted: one that cannot run is refused here,
    // naming the field, instead of failing on nodes that would then be blamed for it.
    const stored = jobParams(body);
    const spec = findProgramSpec(program.id);
    if (ctx.inspectJob && spec) {
      try {
        await ctx.inspectJob(program.id, {
          datasetBlobId: dataset,
          ...(stored[spec.modelParam] ? { modelBlobId: stored[spec.modelParam] } : {}),
          params: Object.fromEntries(
            spec.runParams.filter((n) => stored[n] !== undefined).map((n) => [n, stored[n]!]),
          ),
        });
      } catch (err) {
        if (err instanceof InspectionError) throw badRequest('job_cannot_run', err.message, err.field);
        throw err;
      }
    }

    const feeLimit = feeLimitOf(fuelLimit, fuelPrice);
    const verifierFee = verifierFeeOf(feeLimit);
    const needed = feeLimit + verifierFee;
    const l1 = body.layer === 'l1';
    const jobId = l1
      ? await checkL1Request(requester, body, { programId: program.id, fuelLimit, fuelPrice, deadline })
      : body.commit
        ? await checkCommit(requester, body.commit, needed, deadline)
        : newJobId();
    const workflowId = jobWorkflowId(jobId);
    res.locals.jobId = jobId;
    // Admission holds the requester's lock (shared with the Ledger's reservation) from reading the
    // free deposit to writing the Job row: concurrent submissions cannot spend the same deposit.
    const job = await withRequesterLock(ctx.prisma, requester, async (tx) => {
      const free = await freeDepositOf({ prisma: tx, chain: ctx.chain }, requester);
      if (free < needed) {
        throw new HttpError(
          402,
          'insufficient_deposit',
          `the free deposit of ${requester} is ${describe(free < 0n ? 0n : free)} but this Job needs ${describe(needed)} (feeLimit + verifierFee); deposit at least ${describe(needed - (free < 0n ? 0n : free))} more on EmethCore`,
        );
      }
      return tx.job.create({
        data: {
          id: jobId,
          workflowId,
          requester,
          programId: program.id,
          dataset,
          params: stored,
          numEpoch: body.numEpoch ?? 1,
          numParallel: body.numParallel,
          splitAllowed: body.splitAllowed,
          capabilityClass: body.capabilityClass,
          fuelLimit: fuelLimit.toString(),
          fuelPrice: fuelPrice.toString(),
          verifierFee: verifierFee.toString(),
          deadline,
          status: 'submitted',
          ...(body.commit
            ? { commitSignature: body.commit.signature, commitDeadline: BigInt(body.commit.deadline) }
            : {}),
          ...(l1 ? { layer: 'l1', l1Signature: body.l1Request!.signature } : {}),
        },
      });
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
          { key: EmethLayer, value: l1 ? 'l1' : 'l2' },
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
    const view: JobView = {
      ...jobSummaryView(job, link),
      subJobs: [],
      progress: progressFromRows(job, []),
      chainSteps: [],
    };
    res.status(201).location(`/v1/jobs/${jobId}`).json(view);
  });

  router.get('/', authenticated(auth), async (req, res) => {
    const requester = callerOf(res).address;
    const q = parseQuery(ListJobsQuery, queryObject(req));
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
    const chainSteps =
      job.layer === 'l1'
        ? await ctx.prisma.chainStep.findMany({
            where: { jobId: job.id },
            orderBy: [{ blockNumber: 'asc' }, { logIndex: 'asc' }],
          })
        : [];
    const view: JobView = {
      ...jobSummaryView(job, link),
      subJobs: subJobs.map(subJobView),
      progress,
      chainSteps: chainSteps.map(chainStepView),
    };
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
    const { format } = parseQuery(JobResultQuery, queryObject(req));
    if (job.status !== 'completed' || !job.result) {
      throw conflict(
        'job_not_completed',
        `Job ${job.id} is ${job.status}; its result exists once it is completed`,
      );
    }
    if (format) {
      const bytes = await resultAs(ctx.store, job, format);
      res
        .status(200)
        .type('application/octet-stream')
        .set('Content-Disposition', `attachment; filename="${job.id}.${format}"`)
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return;
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
  inputs?: Record<string, string | string[]>;
  outputs?: string[];
  datasetFormat?: string;
  replicate?: boolean;
  trainGraph?: string;
  publicKey?: string;
  initialModel?: string;
  testSet?: string;
  localSteps?: number;
  learningRate?: string;
  batchSize?: number;
  clipNorm?: number;
  bins?: number;
  min?: number;
  max?: number;
}): Record<string, string> {
  const p: Record<string, string | undefined> = {
    model: body.model,
    // Objects travel as JSON text: a Job's params are strings end to end (lib/programs.ts).
    inputs: body.inputs ? JSON.stringify(body.inputs) : undefined,
    outputs: body.outputs ? JSON.stringify(body.outputs) : undefined,
    datasetFormat: body.datasetFormat,
    // Read by the L2 alone (replicasOf), never handed to a node: a replica runs what its twin runs.
    replicate: body.replicate ? 'true' : undefined,
    trainGraph: body.trainGraph,
    publicKey: body.publicKey,
    initialModel: body.initialModel,
    testSet: body.testSet,
    localSteps: body.localSteps?.toString(),
    learningRate: body.learningRate,
    batchSize: body.batchSize?.toString(),
    clipNorm: body.clipNorm?.toString(),
    bins: body.bins?.toString(),
    min: body.min?.toString(),
    max: body.max?.toString(),
  };
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as Record<string, string>;
}
