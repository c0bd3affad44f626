/** Inference deployments (paper 5-1): deploy a model, scale it, call it, stop it. */
import { blobIdField, intField, textField } from '../../lib/schema-fields';
import {
  ADDRESS,
  AUTH_ERRORS,
  BLOB_ID,
  DATE_TIME,
  HOLON,
  JOB_ID,
  SIGNED_OR_KEY,
  capabilityClass,
  error,
  ok,
  z,
  type Operation,
} from './common';

const HOLON_AMOUNT = (expect: string) =>
  textField({ pattern: /^0*[1-9][0-9]{0,29}$/, maxLength: 80, expect });

export const CreateDeploymentBody = z
  .strictObject({
    model: blobIdField(
      'the ONNX model (scikit-learn, PyTorch or TensorFlow export), uploaded with PUT /v1/blobs',
    ),
    capabilityClass: capabilityClass('a capability class such as "cpu" or "gpu-a100"').optional(),
    pricing: z.enum(['request', 'fuel'], "'request' or 'fuel'").openapi({
      description:
        "'request': `price` holon per request; 'fuel': `price` holon per fuel the request's rows cost",
    }),
    price: HOLON_AMOUNT('a decimal string (holon) of an integer between 1 and 10^30'),
    minReplicas: intField(1, 16, 'replicas kept warm at least (default 1)').optional(),
    maxReplicas: intField(1, 16, 'replicas the load may scale to (default minReplicas)').optional(),
    replicas: intField(1, 16, 'replicas to start with, between min and max (default minReplicas)').optional(),
    maxRowsPerRequest: intField(1, 65536, 'rows one request may hold (default 256)').optional(),
    budget: HOLON_AMOUNT('a decimal string (holon) of an integer between 1 and 10^30').openapi({
      description:
        "holon committed from the requester's deposit for this deployment; what is not spent is refunded at stop",
    }),
    leaseId: textField({
      pattern: /^0x[0-9a-f]{64}$/,
      maxLength: 66,
      expect: 'a lease id, 0x and 64 lower-case hex digits',
      description: 'serve on the nodes of this lease of yours only',
    }).optional(),
    commit: z
      .strictObject({
        deploymentId: textField({
          pattern: /^0x[0-9a-f]{64}$/,
          maxLength: 66,
          expect: 'the deployment id you chose, 0x and 64 lower-case hex digits',
        }),
        deadline: z
          .int('an integer (unix seconds)')
          .min(1)
          .max(2 ** 40),
        signature: textField({
          pattern: /^0x[0-9a-fA-F]{130}$/,
          maxLength: 132,
          expect: 'a 65-byte signature in hex (0x…)',
          description:
            "the requester's EIP-712 Commit(requester, jobId = deploymentId, amount = budget, deadline) under EmethCore's domain",
        }),
      })
      .openapi({
        description:
          'the Commit that lets the L2 commit the budget on EmethCore (GatewayClient.deploy signs it)',
      }),
  })
  .openapi('CreateDeployment');

export const ScaleDeploymentBody = z
  .strictObject({
    minReplicas: intField(1, 16).optional(),
    maxReplicas: intField(1, 16).optional(),
    replicas: intField(1, 16, 'the replicas to serve now, between min and max').optional(),
  })
  .openapi('ScaleDeployment');

export const DeploymentPath = z.object({
  id: textField({
    pattern: /^0x[0-9a-fA-F]{64}$/,
    maxLength: 66,
    expect: 'a deployment id (0x and 64 hex characters)',
  }),
});

const Replica = z.object({
  nodeId: ADDRESS,
  status: z.string().openapi({ description: 'loading | serving | stopped | failed' }),
  reason: z.string().nullable(),
  startedAt: DATE_TIME,
  endedAt: DATE_TIME.nullable(),
});

export const Deployment = z
  .object({
    id: JOB_ID,
    requester: ADDRESS,
    model: BLOB_ID,
    capabilityClass: z.string(),
    status: z.string().openapi({ description: 'deploying | serving | stopping | stopped | failed' }),
    reason: z.string().nullable(),
    pricing: z.string(),
    price: HOLON,
    minReplicas: z.number().int(),
    maxReplicas: z.number().int(),
    targetReplicas: z.number().int(),
    maxRowsPerRequest: z.number().int(),
    budget: HOLON,
    requests: z.number().int().openapi({ description: 'requests answered (canaries left out)' }),
    spent: HOLON.openapi({ description: 'what answered requests cost so far, ticketed or not' }),
    charged: HOLON.openapi({ description: 'what its tickets charge (final once stopped)' }),
    refunded: HOLON,
    replicas: z.array(Replica),
    leaseId: z.string().nullable(),
    createdAt: DATE_TIME,
    temporal: z.object({ workflowId: z.string() }),
  })
  .openapi('Deployment');

export const Inference = z
  .object({
    requestId: z.string(),
    deploymentId: JOB_ID,
    nodeId: ADDRESS,
    rows: z.number().int(),
    fuel: z.string(),
    charged: HOLON,
    outputs: z.record(
      z.string(),
      z.object({
        dtype: z.string(),
        shape: z.array(z.number().int()),
        data: z.array(z.union([z.number(), z.boolean(), z.string()])),
      }),
    ),
  })
  .openapi('Inference');

const JSON_INPUTS = z
  .object({
    inputs: z
      .union([z.record(z.string(), z.array(z.array(z.number()))), z.array(z.array(z.number()))])
      .openapi({
        description:
          'one entry per model input, each an array of rows (nested arrays of numbers); a one-input model also takes the rows directly',
      }),
  })
  .openapi('InferInputs');

export const deploymentOperations = {
  createDeployment: {
    method: 'post',
    path: '/v1/deployments',
    summary: 'Deploy a model on warm replicas, its budget committed from your deposit',
    security: SIGNED_OR_KEY,
    request: { body: { required: true, content: { 'application/json': { schema: CreateDeploymentBody } } } },
    responses: {
      '201': ok('deploying: its replicas load, then it serves', Deployment),
      ...AUTH_ERRORS,
      '402': error('the free deposit does not cover the budget'),
      '403': error('the model blob was not uploaded by the caller'),
      '409': error('a deployment with this id exists'),
      '503': error('this gateway serves no inference'),
    },
  },
  getDeployment: {
    method: 'get',
    path: '/v1/deployments/{id}',
    summary: 'A deployment of yours: status, replicas, requests and money',
    security: SIGNED_OR_KEY,
    request: { params: DeploymentPath },
    responses: {
      '200': ok('the deployment', Deployment),
      ...AUTH_ERRORS,
      '404': error('no such deployment of yours'),
    },
  },
  scaleDeployment: {
    method: 'patch',
    path: '/v1/deployments/{id}',
    summary: 'Change the replica bounds or the replicas served now',
    security: SIGNED_OR_KEY,
    request: {
      params: DeploymentPath,
      body: { required: true, content: { 'application/json': { schema: ScaleDeploymentBody } } },
    },
    responses: {
      '200': ok('the new bounds are taken; replicas follow within a window', Deployment),
      ...AUTH_ERRORS,
      '404': error('no such deployment of yours'),
      '409': error('the deployment is not serving'),
    },
  },
  stopDeployment: {
    method: 'delete',
    path: '/v1/deployments/{id}',
    summary: 'Stop a deployment: its last requests are checked and billed, the rest of the budget refunded',
    security: SIGNED_OR_KEY,
    request: { params: DeploymentPath },
    responses: {
      '202': ok('stopping', Deployment),
      ...AUTH_ERRORS,
      '404': error('no such deployment of yours'),
    },
  },
  infer: {
    method: 'post',
    path: '/v1/deployments/{id}/infer',
    summary:
      'Run the deployed model on one request (JSON or a .npy body), answered synchronously and metered',
    security: SIGNED_OR_KEY,
    request: {
      params: DeploymentPath,
      body: {
        required: true,
        content: {
          'application/json': { schema: JSON_INPUTS },
          'application/x-npy': { schema: z.string().openapi({ format: 'binary' }) },
        },
      },
    },
    responses: {
      '200': {
        description:
          'the outputs (JSON; with Accept: application/x-npy the first output as .npy, the request id and charge in x-emeth-* headers)',
        content: {
          'application/json': { schema: Inference },
          'application/x-npy': { schema: z.string().openapi({ format: 'binary' }) },
        },
      },
      ...AUTH_ERRORS,
      '402': error('the deployment has spent its budget'),
      '403': error('the deployment is not yours'),
      '404': error('no such deployment'),
      '409': error('the deployment is not serving (deploying, stopping or stopped)'),
      '422': error('the model failed on this input on every replica tried'),
      '503': error('no replica is reachable now; retry shortly'),
    },
  },
} satisfies Record<string, Operation>;
