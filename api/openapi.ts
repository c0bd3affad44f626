/**
 * The OpenAPI 3.1 document of `/v1`, written by hand next to the routes it describes. The gateway
 * tests check every real response against these schemas, so a route that drifts fails a test.
 * Schemas stay within a small JSON Schema subset (type, properties, required, items, enum,
 * pattern, minimum/maximum, additionalProperties, $ref; nullable as a type array) so the checker
 * in test/support/openapi-check.ts can follow them.
 */
import { REPLAY_WINDOW_SECONDS } from '../lib/request-auth';
import { JOB_STATUSES, SUBJOB_STATUSES } from '../lib/types';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const nullable = (type: string, extra: Schema = {}): Schema => ({ type: [type, 'null'], ...extra });
const int = (extra: Schema = {}): Schema => ({ type: 'integer', ...extra });
const obj = (
  properties: Record<string, Schema>,
  required: string[] = Object.keys(properties),
  extra: Schema = {},
): Schema => ({
  type: 'object',
  properties,
  required,
  ...extra,
});

const HOLON = str({ pattern: '^-?[0-9]+$', description: 'holon (10^-18 EMETH) as a decimal string' });
const EMETH_AMOUNT = str({ pattern: '^-?[0-9]+(\\.[0-9]+)?$', description: 'EMETH as a decimal string' });
const BLOB_ID = str({ pattern: '^[0-9a-f]{64}$', description: 'sha-256 content id in EMETH Storage' });
const JOB_ID = str({ pattern: '^0x[0-9a-f]{64}$' });
const ADDRESS = str({ pattern: '^0x[0-9a-f]{40}$', description: 'lower-case EVM address' });
const DATE_TIME = str({ format: 'date-time' });
const JOB_STATUS = str({ enum: [...JOB_STATUSES] });
const SUBJOB_STATUS = str({ enum: [...SUBJOB_STATUSES] });

const schemas: Record<string, Schema> = {
  Error: obj(
    {
      error: str({
        description: 'stable code, e.g. invalid_field, signature_replayed, insufficient_deposit',
      }),
      message: str({ description: 'what was wrong and what to do' }),
      field: str({ description: 'the request field at fault' }),
    },
    ['error', 'message'],
    { additionalProperties: false },
  ),
  Blob: obj({ id: BLOB_ID, size: int({ minimum: 0 }) }),
  Fees: obj({
    feeLimit: HOLON,
    verifierFee: HOLON,
    reserved: HOLON,
    charged: HOLON,
    refunded: HOLON,
    emeth: obj({
      feeLimit: EMETH_AMOUNT,
      verifierFee: EMETH_AMOUNT,
      reserved: EMETH_AMOUNT,
      charged: EMETH_AMOUNT,
      refunded: EMETH_AMOUNT,
    }),
  }),
  CreateJob: obj(
    {
      programId: int({
        minimum: 1,
        description: '1 = onnx-inference, 2 = fedavg-train, 3 = encrypted-stats',
      }),
      dataset: { ...BLOB_ID, description: 'blob id of the dataset (or send datasetBase64)' },
      datasetBase64: str({
        maxLength: 22369624,
        description: 'the dataset bytes, base64, at most 16 MB; stored as a blob',
      }),
      model: { ...BLOB_ID, description: 'blob id of the ONNX model (required for onnx-inference)' },
      numEpoch: int({ minimum: 1, maximum: 100, default: 1, description: 'fedavg-train: training rounds' }),
      trainGraph: { ...BLOB_ID, description: 'fedavg-train: blob id of the train-step ONNX graph' },
      publicKey: {
        ...BLOB_ID,
        description: "fedavg-train and encrypted-stats: blob id of the requester's CKKS public key",
      },
      initialModel: { ...BLOB_ID, description: 'fedavg-train: blob id of the initial model' },
      testSet: { ...BLOB_ID, description: 'fedavg-train: held-out set the keyholder measures each epoch on' },
      localSteps: int({ minimum: 1, maximum: 10000 }),
      learningRate: str({ pattern: '^(0|[1-9]\\d*)?(\\.\\d+)?$' }),
      batchSize: int({ minimum: 0, maximum: 1000000 }),
      bins: int({
        minimum: 1,
        maximum: 1024,
        default: 10,
        description: 'encrypted-stats: histogram bins per column',
      }),
      min: { type: 'number', description: 'encrypted-stats: lower end of the histogram range' },
      max: { type: 'number', description: 'encrypted-stats: upper end of the histogram range (above min)' },
      numParallel: int({ minimum: 1, maximum: 256 }),
      fuelLimit: str({ pattern: '^[0-9]+$', description: 'fuel, at most 10^30' }),
      fuelPrice: str({ pattern: '^[0-9]+$', description: 'holon per fuel, at least the program minimum' }),
      deadline: DATE_TIME,
      deadlineSeconds: int({ minimum: 1, maximum: 2592000 }),
      splitAllowed: { type: 'boolean', default: true },
      capabilityClass: str({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$', default: 'cpu' }),
    },
    ['programId', 'numParallel', 'fuelLimit', 'fuelPrice'],
    {
      additionalProperties: false,
      description: 'exactly one of dataset/datasetBase64 and one of deadline/deadlineSeconds',
    },
  ),
  JobSummary: obj({
    id: JOB_ID,
    status: JOB_STATUS,
    requester: ADDRESS,
    programId: int(),
    dataset: BLOB_ID,
    model: nullable('string', { pattern: '^[0-9a-f]{64}$' }),
    params: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: "the program's parameters as submitted",
    },
    numParallel: int({ minimum: 1, maximum: 256 }),
    numEpoch: int({ minimum: 1 }),
    splitAllowed: { type: 'boolean' },
    capabilityClass: str(),
    fuelLimit: HOLON,
    fuelPrice: HOLON,
    deadline: DATE_TIME,
    fees: ref('Fees'),
    result: nullable('string', { pattern: '^[0-9a-f]{64}$' }),
    workflowId: str({ pattern: '^job-0x[0-9a-f]{64}$' }),
    temporalUiUrl: str({ description: '<temporal UI>/namespaces/<namespace>/workflows/<workflowId>' }),
    createdAt: DATE_TIME,
    updatedAt: DATE_TIME,
  }),
  SubJob: obj({
    index: int({ minimum: 0 }),
    epoch: int({ minimum: 0 }),
    status: SUBJOB_STATUS,
    nodeId: nullable('string', { pattern: '^0x[0-9a-f]{40}$' }),
    attempts: int({ minimum: 0 }),
    rows: int({ minimum: 0 }),
    fuelUsed: nullable('string', { pattern: '^[0-9]+$' }),
  }),
  Progress: obj({
    jobId: JOB_ID,
    status: JOB_STATUS,
    subJobs: obj({ total: int(), verified: int(), failed: int(), running: int(), waiting: int() }),
    fees: obj({ reserved: HOLON, charged: HOLON, refunded: HOLON }),
    source: str({
      enum: ['workflow', 'database'],
      description: 'workflow: the live query answered within 2 s; database: derived from rows',
    }),
  }),
  Job: {
    allOf: [
      ref('JobSummary'),
      obj({ subJobs: { type: 'array', items: ref('SubJob') }, progress: ref('Progress') }),
    ],
  },
  JobList: obj({ jobs: { type: 'array', items: ref('JobSummary') }, nextCursor: nullable('string') }),
  CancelAccepted: obj({
    id: JOB_ID,
    status: JOB_STATUS,
    cancelRequested: { type: 'boolean', enum: [true] },
    message: str(),
  }),
  JobResult: obj(
    {
      jobId: JOB_ID,
      result: BLOB_ID,
      size: nullable('integer'),
      rows: nullable('integer'),
      download: str({ pattern: '^/v1/blobs/[0-9a-f]{64}$' }),
      fees: ref('Fees'),
    },
    ['jobId', 'result', 'download', 'fees'],
  ),
  Checkpoints: obj(
    {
      jobId: JOB_ID,
      numEpoch: { type: 'integer' },
      checkpoints: {
        type: 'array',
        items: obj(
          {
            epoch: { type: 'integer' },
            model: BLOB_ID,
            accuracy: nullable('number'),
            loss: nullable('number'),
            createdAt: str(),
          },
          ['epoch', 'model', 'accuracy', 'loss', 'createdAt'],
        ),
      },
    },
    ['jobId', 'numEpoch', 'checkpoints'],
  ),
  RegisterNode: obj(
    {
      capabilityClass: str({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' }),
      encryptionKey: str({
        pattern: '^[0-9a-f]{64}$',
        description: "the node's X25519 public key; its inputs are wrapped to it",
      }),
    },
    ['capabilityClass'],
    {
      additionalProperties: false,
    },
  ),
  Node: obj(
    {
      address: ADDRESS,
      capabilityClass: str(),
      status: str({ enum: ['online', 'offline'] }),
      encryptionKey: nullable('string'),
      lastSeenAt: DATE_TIME,
      registeredAt: DATE_TIME,
      completed: int({ minimum: 0 }),
      failures: int({ minimum: 0 }),
      stake: { ...HOLON, description: 'on EmethCore, holon (single node reads only)' },
    },
    [
      'address',
      'capabilityClass',
      'status',
      'encryptionKey',
      'lastSeenAt',
      'registeredAt',
      'completed',
      'failures',
    ],
  ),
  NodeList: obj({ nodes: { type: 'array', items: ref('Node') } }),
  Ticket: obj({
    ticket: obj({
      jobId: JOB_ID,
      subJobId: JOB_ID,
      node: ADDRESS,
      requester: ADDRESS,
      amount: HOLON,
      verifier: str(),
      verifierFee: HOLON,
    }),
    batch: {
      type: ['object', 'null'],
      properties: { batchId: int(), root: str(), total: HOLON, signature: str() },
      required: ['batchId', 'root', 'total', 'signature'],
    },
    leafIndex: nullable('integer'),
    proof: { type: ['array', 'null'], items: str() },
    redeemedAt: nullable('string', { format: 'date-time' }),
  }),
  TicketList: obj({ tickets: { type: 'array', items: ref('Ticket') } }),
  CreateApiKey: obj({ label: str({ minLength: 1, maxLength: 100 }) }, [], { additionalProperties: false }),
  ApiKey: obj({
    id: str(),
    requester: ADDRESS,
    label: nullable('string'),
    createdAt: DATE_TIME,
    revokedAt: nullable('string', { format: 'date-time' }),
  }),
  ApiKeyCreated: {
    allOf: [
      ref('ApiKey'),
      obj({
        key: str({
          pattern: '^emeth_[A-Za-z0-9_-]+$',
          description: 'the plaintext key, shown only this once',
        }),
      }),
    ],
  },
  ApiKeyList: obj({ apiKeys: { type: 'array', items: ref('ApiKey') } }),
};

const json = (schema: Schema) => ({ content: { 'application/json': { schema } } });
const error = (description: string) => ({ description, ...json(ref('Error')) });
const ok = (description: string, schema: Schema) => ({ description, ...json(schema) });

/** The errors every authenticated route can answer with. */
const authErrors = {
  '400': error('invalid request: the message and `field` name the problem'),
  '401': error(
    'not authenticated: missing, bad, expired or replayed signature, or an unknown/revoked API key',
  ),
  '413': error('body too large'),
};

const signedOrKey = [{ emethAddress: [], emethTimestamp: [], emethSignature: [] }, { apiKey: [] }];
const signedOnly = [{ emethAddress: [], emethTimestamp: [], emethSignature: [] }];

const pathParam = (name: string, schema: Schema, description?: string) => ({
  name,
  in: 'path',
  required: true,
  schema,
  ...(description ? { description } : {}),
});
const queryParam = (name: string, schema: Schema, description?: string) => ({
  name,
  in: 'query',
  required: false,
  schema,
  ...(description ? { description } : {}),
});

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'EMETH gateway',
      version: '1.0.0',
      description:
        'Submit and follow Jobs on the EMETH network, store blobs, register nodes and read their tickets. ' +
        'Errors are JSON `{ error, message, field? }`. Amounts are holon (10^-18 EMETH) as decimal strings.',
    },
    servers: [{ url: '/' }],
    security: signedOrKey,
    components: {
      securitySchemes: {
        emethAddress: {
          type: 'apiKey',
          in: 'header',
          name: 'x-emeth-address',
          description: 'the signer’s EVM address',
        },
        emethTimestamp: {
          type: 'apiKey',
          in: 'header',
          name: 'x-emeth-timestamp',
          description: `unix seconds; requests more than ${REPLAY_WINDOW_SECONDS} s from the gateway clock are refused`,
        },
        emethSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'x-emeth-signature',
          description:
            'EIP-191 personal_sign of "EMETH-REQUEST-V1\\n<METHOD>\\n<path with query>\\n<sha-256 hex of the raw body>\\n<timestamp>". ' +
            'Each signature is accepted once (replays are refused with 401); to repeat an identical request within the same second add a `nonce` query parameter, which every route ignores.',
        },
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'emeth_<key>',
          description: 'an API key from POST /v1/api-keys',
        },
      },
      schemas,
    },
    paths: {
      '/healthz': {
        get: {
          summary: 'Health of every part of the stack',
          security: [],
          responses: {
            '200': ok('all parts up', { type: 'object', required: ['status', 'parts', 'checkedAt'] }),
            '503': ok('a part is down', { type: 'object', required: ['status', 'parts', 'checkedAt'] }),
          },
        },
      },
      '/v1/openapi.json': {
        get: {
          summary: 'This document',
          security: [],
          responses: {
            '200': ok('the OpenAPI 3.1 document', { type: 'object', required: ['openapi', 'paths'] }),
          },
        },
      },
      '/v1/storage/key': {
        get: {
          summary: 'The X25519 storage key blobs are sealed to at rest',
          security: [],
          responses: {
            '200': ok(
              'the key',
              obj(
                {
                  keyId: str({ pattern: '^[0-9a-f]{16}$' }),
                  publicKey: str({ pattern: '^[0-9a-f]{64}$' }),
                  algorithm: str({ enum: ['X25519'] }),
                },
                ['keyId', 'publicKey', 'algorithm'],
              ),
            ),
          },
        },
      },
      '/v1/blobs': {
        put: {
          summary:
            'Store a blob (at most 64 MB): plaintext the gateway seals, or an envelope sealed to the storage key',
          description:
            'Every blob rests as an AES-256-GCM envelope whose data key is wrapped to the storage key; the id is the sha-256 of the envelope. ' +
            'Upload `application/vnd.emeth.envelope` (sealed by the caller, lib/envelope) to keep plaintext off the wire, or any other type for the gateway to seal.',
          requestBody: {
            required: true,
            content: {
              'application/octet-stream': { schema: { type: 'string', contentEncoding: 'binary' } },
              'application/vnd.emeth.envelope': { schema: { type: 'string', contentEncoding: 'binary' } },
            },
          },
          responses: { '201': ok('stored (idempotent)', ref('Blob')), ...authErrors },
        },
      },
      '/v1/blobs/{id}': {
        parameters: [pathParam('id', BLOB_ID)],
        get: {
          summary: 'Read a blob',
          description:
            'Allowed for its uploader, the requester of a Job using it, a node assigned to a SubJob using it, verifiers and the L2 server. ' +
            'With `to`, the envelope comes back with its data key wrapped to that X25519 key in the `x-emeth-data-key` header (a node may name only the key it registered); without it, the plaintext.',
          parameters: [queryParam('to', str({ pattern: '^[0-9a-f]{64}$' }))],
          responses: {
            '200': {
              description: 'the bytes (plaintext), or the envelope when `to` is given',
              content: {
                'application/octet-stream': { schema: { type: 'string', contentEncoding: 'binary' } },
                'application/vnd.emeth.envelope': { schema: { type: 'string', contentEncoding: 'binary' } },
              },
            },
            ...authErrors,
            '403': error('the caller may not read this blob'),
            '404': error('no such blob'),
          },
        },
        head: {
          summary: 'Size of a blob (same authorization as GET)',
          responses: {
            '200': { description: 'exists; content-length is its size' },
            '400': { description: 'not a blob id' },
            '401': { description: 'not authenticated' },
            '403': { description: 'forbidden' },
            '404': { description: 'no such blob' },
          },
        },
      },
      '/v1/jobs': {
        post: {
          summary: 'Submit a Job',
          requestBody: { required: true, ...json(ref('CreateJob')) },
          responses: {
            '201': ok('accepted; its workflow is started', ref('Job')),
            ...authErrors,
            '402': error('the free deposit does not cover feeLimit + verifierFee'),
            '403': error('a referenced blob belongs to someone else'),
            '503': error('the chain or Temporal could not be reached; nothing was reserved'),
          },
        },
        get: {
          summary: "The caller's Jobs, newest first",
          parameters: [
            queryParam('status', JOB_STATUS),
            queryParam('programId', int({ minimum: 1 })),
            queryParam('limit', int({ minimum: 1, maximum: 100, default: 20 })),
            queryParam('cursor', str(), 'nextCursor of the previous page'),
          ],
          responses: { '200': ok('a page', ref('JobList')), ...authErrors },
        },
      },
      '/v1/jobs/{id}': {
        parameters: [pathParam('id', JOB_ID)],
        get: {
          summary: 'One Job: status, fees, SubJobs, progress, Temporal UI link (its requester only)',
          responses: {
            '200': ok('the Job', ref('Job')),
            ...authErrors,
            '403': error('another requester’s Job'),
            '404': error('no such Job'),
          },
        },
      },
      '/v1/jobs/{id}/cancel': {
        parameters: [pathParam('id', JOB_ID)],
        post: {
          summary: 'Cancel a Job (signals its workflow)',
          responses: {
            '202': ok('cancel signalled', ref('CancelAccepted')),
            ...authErrors,
            '403': error('another requester’s Job'),
            '404': error('no such Job'),
            '409': error('the Job already ended'),
          },
        },
      },
      '/v1/jobs/{id}/result': {
        parameters: [pathParam('id', JOB_ID)],
        get: {
          summary: 'The result blob of a completed Job',
          responses: {
            '200': ok('the result', ref('JobResult')),
            ...authErrors,
            '403': error('another requester’s Job'),
            '404': error('no such Job'),
            '409': error('not completed yet'),
          },
        },
      },
      '/v1/jobs/{id}/checkpoints': {
        parameters: [pathParam('id', JOB_ID)],
        get: {
          summary: 'A training Job’s global model after each epoch, with accuracy and loss on its test set',
          responses: {
            '200': ok('the checkpoints so far', ref('Checkpoints')),
            ...authErrors,
            '403': error('another requester’s Job'),
            '404': error('no such Job'),
          },
        },
      },
      '/v1/nodes/{address}/redemptions': {
        parameters: [pathParam('address', ADDRESS)],
        get: {
          summary:
            'The node’s unredeemed tickets as EmethCore.redeemMany arguments, one multiproof per batch (the node itself only)',
          responses: {
            '200': ok('one entry per batch', {
              type: 'object',
              required: ['redemptions'],
              properties: { redemptions: { type: 'array', items: { type: 'object' } } },
            }),
            ...authErrors,
            '403': error('another node’s redemptions'),
          },
        },
      },
      '/v1/nodes': {
        post: {
          summary: 'Register or refresh the signing node (after staking on EmethCore)',
          security: signedOnly,
          requestBody: { required: true, ...json(ref('RegisterNode')) },
          responses: {
            '200': ok('refreshed', ref('Node')),
            '201': ok('registered', ref('Node')),
            ...authErrors,
            '403': error('no stake on EmethCore'),
            '503': error('the chain could not be reached'),
          },
        },
        get: {
          summary: 'Registered nodes',
          parameters: [
            queryParam('capabilityClass', str()),
            queryParam('status', str({ enum: ['online', 'offline'] })),
          ],
          responses: { '200': ok('the nodes', ref('NodeList')), ...authErrors },
        },
      },
      '/v1/nodes/{address}': {
        parameters: [pathParam('address', str({ pattern: '^0x[0-9a-fA-F]{40}$' }))],
        get: {
          summary: 'One node with its record and stake',
          responses: { '200': ok('the node', ref('Node')), ...authErrors, '404': error('not registered') },
        },
      },
      '/v1/nodes/{address}/tickets': {
        parameters: [pathParam('address', str({ pattern: '^0x[0-9a-fA-F]{40}$' }))],
        get: {
          summary: "The node's tickets with batch signature and Merkle proof (the node itself only)",
          parameters: [queryParam('redeemed', { type: 'boolean' })],
          responses: {
            '200': ok('the tickets', ref('TicketList')),
            ...authErrors,
            '403': error('not this node'),
          },
        },
      },
      '/v1/api-keys': {
        post: {
          summary: 'Create an API key (wallet-signed requests only); the key is returned once',
          security: signedOnly,
          requestBody: { required: false, ...json(ref('CreateApiKey')) },
          responses: { '201': ok('created', ref('ApiKeyCreated')), ...authErrors },
        },
        get: {
          summary: "The caller's API keys",
          responses: { '200': ok('the keys', ref('ApiKeyList')), ...authErrors },
        },
      },
      '/v1/api-keys/{id}': {
        parameters: [pathParam('id', str())],
        delete: {
          summary: 'Revoke an API key',
          responses: {
            '200': ok('revoked', ref('ApiKey')),
            ...authErrors,
            '404': error('no such key of the caller'),
          },
        },
      },
    },
  };
}
