/**
 * Inference deployments (paper 5-1). A requester deploys an ONNX model with a price and a budget
 * its Commit lets the L2 take from its deposit; the deployment workflow places warm replicas, and
 * POST /:id/infer answers synchronously through the router over the replicas' serving streams.
 * Every refusal names the field; the model is read at deploy, so a model that cannot be served is
 * refused there, in one sentence, not at the first request.
 */
import { Router, type Request, type Response } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Authenticator } from '../auth';
import type { ApiContext } from '../deps';
import { HttpError, badRequest, conflict, forbidden, notFound } from '../errors';
import { authenticated, callerOf, jsonBody, rawBody } from '../http';
import { CreateDeploymentBody, DeploymentPath, ScaleDeploymentBody } from '../schemas/deployments';
import { parseObject, parsePath } from '../schemas/parse';
import { canReadBlob } from '../blob-access';
import { checkRequesterCommit, freeDepositOf, insufficientDeposit } from '../commit-check';
import { withRequesterLock } from '../../prisma/ledger';
import {
  assertRunnable,
  describeDims,
  inspectModel,
  type ModelInfo,
} from '../../activities/programs/onnx-model';
import { modelCostOf } from '../../activities/programs/onnx-fuel';
import { feedsOf } from '../../activities/programs/onnx-binding';
import { InferRefused } from '../../activities/inference/router';
import {
  DEFAULT_MAX_ROWS_PER_REQUEST,
  InferInputError,
  minimumPrice,
  requestPrice,
  tensorFromJson,
  tensorToJson,
  type Pricing,
} from '../../lib/inference';
import { isNpy, readNpy, writeNpy, type Tensor } from '../../lib/tensors';
import { EmethError } from '../../lib/errors';

/** A deployment's Commit must stay open this long for its last window's tickets to be redeemed. */
const MIN_COMMIT_OPEN_S = 24 * 3600;

export const deploymentWorkflowId = (id: string) => `deployment-${id}`;

const REFUSAL_STATUS: Record<InferRefused['kind'], [number, string]> = {
  not_found: [404, 'deployment_not_found'],
  forbidden: [403, 'not_your_deployment'],
  not_serving: [409, 'deployment_not_serving'],
  budget: [402, 'budget_spent'],
  rows: [400, 'too_many_rows'],
  unavailable: [503, 'no_replica'],
  failed: [422, 'inference_failed'],
};

export function deploymentsRouter(ctx: ApiContext, auth: Authenticator): Router {
  const router = Router();
  const inference = () => {
    if (!ctx.inference) throw new HttpError(503, 'inference_unavailable', 'this gateway serves no inference');
    return ctx.inference;
  };

  async function ownDeployment(req: Request, res: Response) {
    const id = parsePath(DeploymentPath, req.params).id.toLowerCase();
    const caller = callerOf(res).address;
    const d = await ctx.prisma.deployment.findUnique({
      where: { id },
      include: { replicas: { orderBy: { startedAt: 'asc' } } },
    });
    if (!d || d.requester !== caller)
      throw notFound('deployment_not_found', `no deployment ${id} of ${caller}`);
    return d;
  }

  async function view(d: NonNullable<Awaited<ReturnType<typeof ownDeployment>>>) {
    const answered = await ctx.prisma.inferenceRequest.aggregate({
      where: { deploymentId: d.id, canary: false, OR: [{ valid: null }, { valid: true }] },
      _count: true,
      _sum: { amount: true },
    });
    return {
      id: d.id,
      requester: d.requester,
      model: d.model,
      capabilityClass: d.capabilityClass,
      status: d.status,
      reason: d.reason,
      pricing: d.pricing,
      price: d.price.toFixed(0),
      minReplicas: d.minReplicas,
      maxReplicas: d.maxReplicas,
      targetReplicas: d.targetReplicas,
      maxRowsPerRequest: d.maxRowsPerRequest,
      budget: d.budget.toFixed(0),
      requests: answered._count,
      spent: (answered._sum.amount ?? 0).toString().replace(/\..*$/, ''),
      charged: d.charged.toFixed(0),
      refunded: d.refunded.toFixed(0),
      replicas: d.replicas.map((r) => ({
        nodeId: r.nodeId,
        status: r.status,
        reason: r.reason,
        startedAt: r.startedAt.toISOString(),
        endedAt: r.endedAt?.toISOString() ?? null,
      })),
      leaseId: d.leaseId,
      createdAt: d.createdAt.toISOString(),
      temporal: { workflowId: d.workflowId },
    };
  }

  router.post('/', authenticated(auth), async (req, res) => {
    inference();
    const body = parseObject(CreateDeploymentBody, jsonBody(req));
    const requester = callerOf(res).address;
    const id = body.commit.deploymentId;
    res.locals.jobId = id;
    const min = body.minReplicas ?? 1;
    const max = body.maxReplicas ?? Math.max(min, body.replicas ?? min);
    if (max < min)
      throw badRequest('invalid_range', `maxReplicas ${max} is below minReplicas ${min}`, 'maxReplicas');
    const replicas = body.replicas ?? min;
    if (replicas < min || replicas > max)
      throw badRequest(
        'invalid_range',
        `replicas ${replicas} is outside [minReplicas ${min}, maxReplicas ${max}]`,
        'replicas',
      );
    const maxRows = body.maxRowsPerRequest ?? DEFAULT_MAX_ROWS_PER_REQUEST;
    const model = await servableModel(ctx, requester, body.model);
    const pricing = body.pricing as Pricing;
    const price = BigInt(body.price);
    const budget = BigInt(body.budget);
    const cost = await modelCostOf(model.bytes, rowShapesAt(model.info)).catch((err: Error) => {
      throw badRequest('invalid_model', `the model cannot be metered: ${err.message}`, 'model');
    });
    const floor = minimumPrice(pricing, maxRows, cost);
    if (price < floor)
      throw badRequest(
        'fee_below_minimum',
        `price ${price} is below the minimum of ${floor} holon ${pricing === 'fuel' ? 'per fuel' : `per request of up to ${maxRows} rows`} (paper 5-1-1, README "Inference")`,
        'price',
      );
    const largest = requestPrice({ pricing, price }, maxRows, cost);
    if (budget < largest)
      throw badRequest(
        'budget_too_small',
        `budget ${budget} does not cover one request of ${maxRows} rows (${largest} holon)`,
        'budget',
      );
    const capabilityClass = body.capabilityClass ?? 'cpu';
    if (body.leaseId) {
      const lease = await ctx.prisma.lease.findUnique({ where: { id: body.leaseId } });
      if (!lease || lease.requester !== requester || lease.status !== 'active')
        throw badRequest(
          'invalid_lease',
          `leaseId ${body.leaseId} is not an active lease of ${requester}`,
          'leaseId',
        );
      if (lease.capabilityClass !== capabilityClass)
        throw badRequest(
          'invalid_lease',
          `lease ${body.leaseId} holds ${lease.capabilityClass} nodes, not ${capabilityClass}`,
          'leaseId',
        );
    }
    checkCommit(requester, body.commit, budget);
    if (await ctx.prisma.deployment.findUnique({ where: { id }, select: { id: true } }))
      throw conflict(
        'deployment_exists',
        `a deployment ${id} exists already: choose a fresh id and sign again`,
      );

    const workflowId = deploymentWorkflowId(id);
    const row = await withRequesterLock(ctx.prisma, requester, async (tx) => {
      const free = await freeDepositOf({ prisma: tx, chain: ctx.chain }, requester);
      if (free < budget) throw insufficientDeposit(requester, free, budget, 'the budget');
      return tx.deployment.create({
        data: {
          id,
          workflowId,
          requester,
          model: body.model,
          capabilityClass,
          pricing,
          price: price.toString(),
          minReplicas: min,
          maxReplicas: max,
          targetReplicas: replicas,
          maxRowsPerRequest: maxRows,
          workPerRow: cost.workPerRow,
          graphNodes: cost.nodes,
          budget: budget.toString(),
          commitSignature: body.commit.signature,
          commitDeadline: BigInt(body.commit.deadline),
          leaseId: body.leaseId ?? null,
          status: 'deploying',
        },
        include: { replicas: true },
      });
    });
    try {
      await ctx.temporal.workflow.start('deploymentWorkflow', {
        taskQueue: ctx.l2TaskQueue,
        workflowId,
        args: [{ deploymentId: id, minReplicas: min, maxReplicas: max, targetReplicas: replicas }],
      });
    } catch (err) {
      await ctx.prisma.deployment.delete({ where: { id } }).catch(() => undefined);
      throw new HttpError(
        503,
        'temporal_unavailable',
        `the deployment workflow could not be started (${(err as Error).message}); nothing was committed, deploy again`,
      );
    }
    req.log.info({ jobId: id, requester, budget: budget.toString() }, 'deployment created');
    res.status(201).json(await view(row));
  });

  router.get('/:id', authenticated(auth), async (req, res) => {
    res.json(await view(await ownDeployment(req, res)));
  });

  router.patch('/:id', authenticated(auth), async (req, res) => {
    const d = await ownDeployment(req, res);
    const body = parseObject(ScaleDeploymentBody, jsonBody(req));
    if (!['deploying', 'serving'].includes(d.status))
      throw conflict(
        'deployment_not_serving',
        `deployment ${d.id} is ${d.status}: only a serving deployment scales`,
      );
    let bounds: { minReplicas: number; maxReplicas: number; targetReplicas: number };
    try {
      bounds = await ctx.temporal.workflow.getHandle(d.workflowId).executeUpdate('scale', { args: [body] });
    } catch (err) {
      const message =
        (err as { cause?: { message?: string }; message?: string }).cause?.message ?? (err as Error).message;
      if (err instanceof WorkflowNotFoundError)
        throw conflict('deployment_not_serving', `deployment ${d.id} has no running workflow`);
      throw badRequest('invalid_range', message, 'replicas');
    }
    const updated = await ctx.prisma.deployment.update({
      where: { id: d.id },
      data: bounds,
      include: { replicas: { orderBy: { startedAt: 'asc' } } },
    });
    res.json(await view(updated));
  });

  router.delete('/:id', authenticated(auth), async (req, res) => {
    const d = await ownDeployment(req, res);
    if (['deploying', 'serving'].includes(d.status)) {
      await ctx.temporal.workflow
        .getHandle(d.workflowId)
        .signal('stop', { reason: `stopped by ${callerOf(res).address}` })
        .catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
    }
    res.status(202).json(await view(d));
  });

  router.post('/:id/infer', authenticated(auth), async (req, res) => {
    const router = inference();
    const id = parsePath(DeploymentPath, req.params).id.toLowerCase();
    res.locals.jobId = id;
    const caller = callerOf(res).address;
    let feeds: Record<string, Tensor>;
    let served;
    try {
      const model = await router.modelOf(id);
      feeds = feedsFrom(model, req);
      served = await router.infer(id, caller, feeds);
    } catch (err) {
      if (err instanceof InferRefused) {
        const [status, code] = REFUSAL_STATUS[err.kind];
        throw new HttpError(status, code, err.message);
      }
      if (err instanceof InferInputError) throw badRequest('invalid_inputs', err.message, err.field);
      if (err instanceof EmethError) throw badRequest('invalid_inputs', err.message, 'inputs');
      throw err;
    }
    res.setHeader('x-emeth-request-id', served.requestId);
    res.setHeader('x-emeth-node', served.nodeId);
    res.setHeader('x-emeth-charged', served.amount.toString());
    if ((req.headers.accept ?? '').includes('application/x-npy')) {
      res.type('application/x-npy').send(Buffer.from(writeNpy(served.outputs[0]!)));
      return;
    }
    res.json({
      requestId: served.requestId,
      deploymentId: id,
      nodeId: served.nodeId,
      rows: served.rows,
      fuel: served.fuel.toString(),
      charged: served.amount.toString(),
      outputs: Object.fromEntries(served.outputs.map((t) => [t.name, tensorToJson(t)])),
    });
  });

  function checkCommit(
    requester: string,
    commit: { deploymentId: string; deadline: number; signature: string },
    budget: bigint,
  ) {
    checkRequesterCommit(ctx.commitDomain, requester, { ...commit, jobId: commit.deploymentId }, budget, {
      earliest: Math.floor(ctx.now() / 1000) + MIN_COMMIT_OPEN_S,
      earliestWhy: 'a day from now, for nodes to redeem',
      amountIs: 'budget',
    });
  }

  return router;
}

/** The model's bytes and what it takes, or a 400 naming `model` with what is wrong. */
async function servableModel(
  ctx: ApiContext,
  caller: string,
  blob: string,
): Promise<{ bytes: Uint8Array; info: ModelInfo }> {
  if (!(await ctx.store.has(blob)))
    throw badRequest(
      'unknown_blob',
      `model ${blob} is not in EMETH Storage: upload it with PUT /v1/blobs`,
      'model',
    );
  if (!(await canReadBlob(ctx.prisma, ctx.readAll, caller, blob)))
    throw forbidden('blob_forbidden', `model ${blob} was not uploaded by ${caller}`, 'model');
  const bytes = await ctx.store.get(blob);
  let info: ModelInfo;
  try {
    info = inspectModel(bytes);
    assertRunnable(info);
  } catch (err) {
    throw badRequest('invalid_model', `model ${blob} cannot be served: ${(err as Error).message}`, 'model');
  }
  const unfit = info.inputs.find((i) => i.dtype === null);
  if (unfit)
    throw badRequest(
      'invalid_model',
      `the model's input "${unfit.name}" takes ${unfit.elemType}, which requests cannot carry`,
      'model',
    );
  return { bytes, info };
}

/** The per-row shapes a request of the model's fixed dimensions has (symbolic ones count as 1). */
function rowShapesAt(model: ModelInfo) {
  return Object.fromEntries(
    model.inputs.map((i) => [
      i.name,
      { dtype: i.dtype!, inner: (i.dims ?? [null]).slice(1).map((d) => d ?? 1) },
    ]),
  );
}

/** The request's inputs bound to the model: JSON `{ inputs }` or one .npy body for a one-input model. */
function feedsFrom(model: ModelInfo, req: Request): Record<string, Tensor> {
  const raw = rawBody(req);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  let tensors: Tensor[];
  if (type === 'application/x-npy' || type === 'application/octet-stream' || isNpy(raw)) {
    if (model.inputs.length !== 1)
      throw new InferInputError(
        'inputs',
        `a .npy body feeds a one-input model; this one takes ${model.inputs.map((i) => `"${i.name}"`).join(', ')}: send JSON { "inputs": { name: rows } }`,
      );
    tensors = [{ ...readNpy(raw, {}), name: model.inputs[0]!.name }];
  } else {
    const body = jsonBody(req) as { inputs?: unknown };
    const inputs = body?.inputs;
    if (inputs === undefined)
      throw new InferInputError('inputs', 'the body must be { "inputs": … } (or a .npy body)');
    if (Array.isArray(inputs)) {
      if (model.inputs.length !== 1)
        throw new InferInputError(
          'inputs',
          `inputs as rows feed a one-input model; name each of ${model.inputs.map((i) => `"${i.name}"`).join(', ')}`,
        );
      const i = model.inputs[0]!;
      tensors = [tensorFromJson(i.name, inputs, i.dtype!, 'inputs')];
    } else if (inputs && typeof inputs === 'object') {
      const named = inputs as Record<string, unknown>;
      const unknown = Object.keys(named).find((k) => !model.inputs.some((i) => i.name === k));
      if (unknown)
        throw new InferInputError(
          `inputs.${unknown}`,
          `the model has no input "${unknown}"; it takes ${model.inputs.map((i) => `"${i.name}" ${describeDims(i.dims)}`).join(', ')}`,
        );
      tensors = model.inputs.map((i) => {
        if (!(i.name in named))
          throw new InferInputError(
            `inputs.${i.name}`,
            `inputs.${i.name} is missing: the model takes ${describeDims(i.dims)}`,
          );
        return tensorFromJson(i.name, named[i.name], i.dtype!, `inputs.${i.name}`);
      });
    } else
      throw new InferInputError('inputs', 'inputs must be an object of named inputs or an array of rows');
  }
  const feeds = feedsOf(
    model,
    tensors,
    Object.fromEntries(model.inputs.map((i) => [i.name, { array: i.name }])),
  );
  const rows = Object.values(feeds).map((t) => t.shape[0]);
  if (new Set(rows).size > 1)
    throw new InferInputError(
      'inputs',
      `every input must hold the same number of rows; got ${rows.join(', ')}`,
    );
  return feeds;
}
