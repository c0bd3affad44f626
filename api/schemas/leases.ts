/** GPU rental (paper 5-2): lease N nodes of a class for a whole number of paid periods, follow it, end it. */
import { intField, textField } from '../../lib/schema-fields';
import {
  ADDRESS,
  AUTH_ERRORS,
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

const LEASE_ID = (expect: string) => textField({ pattern: /^0x[0-9a-f]{64}$/, maxLength: 66, expect });

export const CreateLeaseBody = z
  .strictObject({
    capabilityClass: capabilityClass('a capability class such as "cpu" or "gpu-a100"'),
    nodes: intField(1, 64, 'how many nodes of the class to hold'),
    durationSeconds: intField(
      1,
      366 * 24 * 3600,
      'how long, a whole number of paid periods (GET /v1/leases/terms)',
    ),
    hourlyPrice: textField({
      pattern: /^0*[1-9][0-9]{0,29}$/,
      maxLength: 80,
      expect: 'a decimal string (holon) of an integer between 1 and 10^30',
      description:
        'holon per node per hour; per period it must be a whole holon (hourlyPrice × periodSeconds / 3600)',
    }),
    commit: z
      .strictObject({
        leaseId: LEASE_ID('the lease id you chose, 0x and 64 lower-case hex digits'),
        deadline: z
          .int('an integer (unix seconds)')
          .min(1)
          .max(2 ** 40),
        signature: textField({
          pattern: /^0x[0-9a-fA-F]{130}$/,
          maxLength: 132,
          expect: 'a 65-byte signature in hex (0x…)',
          description:
            "the requester's EIP-712 Commit(requester, jobId = leaseId, amount = nodes × periods × pricePerPeriod, deadline) under EmethCore's domain",
        }),
      })
      .openapi({
        description:
          'the Commit that lets the L2 commit the lease’s budget on EmethCore (GatewayClient.createLease signs it)',
      }),
  })
  .openapi('CreateLease');

export const LeasePath = z.object({
  id: textField({
    pattern: /^0x[0-9a-fA-F]{64}$/,
    maxLength: 66,
    expect: 'a lease id (0x and 64 hex characters)',
  }),
});

const LeasedNode = z.object({
  nodeId: ADDRESS,
  status: z.string().openapi({ description: 'active | left (left early, penalised) | released' }),
  paidPeriods: z.number().int(),
  joinedAt: DATE_TIME,
  leftAt: DATE_TIME.nullable(),
});

export const Lease = z
  .object({
    id: JOB_ID,
    requester: ADDRESS,
    capabilityClass: z.string(),
    nodeCount: z.number().int(),
    hourlyPrice: HOLON,
    periodSeconds: z.number().int(),
    periods: z.number().int(),
    pricePerPeriod: HOLON.openapi({ description: 'holon per node per period' }),
    budget: HOLON,
    status: z.string().openapi({ description: 'pending | active | ended | failed' }),
    reason: z.string().nullable(),
    startsAt: DATE_TIME.nullable(),
    endsAt: DATE_TIME.nullable(),
    charged: HOLON.openapi({ description: 'what its tickets charge (final once ended)' }),
    refunded: HOLON.openapi({ description: 'budget − charged, once ended' }),
    nodes: z.array(LeasedNode),
    createdAt: DATE_TIME,
    temporal: z.object({ workflowId: z.string() }),
  })
  .openapi('Lease');

export const LeaseTerms = z
  .object({
    periodSeconds: z.number().int().openapi({ description: 'seconds per paid period' }),
    minCommitWindowSeconds: z
      .number()
      .int()
      .openapi({ description: 'commit.deadline must be at least the lease’s end plus this' }),
  })
  .openapi('LeaseTerms');

export const leaseOperations = {
  leaseTerms: {
    method: 'get',
    path: '/v1/leases/terms',
    summary: 'The period leases are paid by and how long a lease’s Commit must stay open',
    security: SIGNED_OR_KEY,
    responses: { '200': ok('the terms', LeaseTerms), ...AUTH_ERRORS },
  },
  createLease: {
    method: 'post',
    path: '/v1/leases',
    summary:
      'Lease N nodes of a class for a duration at an hourly price, the budget committed from your deposit',
    security: SIGNED_OR_KEY,
    request: { body: { required: true, content: { 'application/json': { schema: CreateLeaseBody } } } },
    responses: {
      '201': ok('pending: its nodes are chosen, then it is active', Lease),
      ...AUTH_ERRORS,
      '402': error('the free deposit does not cover the budget'),
      '409': error('a lease with this id exists'),
    },
  },
  getLease: {
    method: 'get',
    path: '/v1/leases/{id}',
    summary: 'A lease of yours: its nodes, paid periods and money',
    security: SIGNED_OR_KEY,
    request: { params: LeasePath },
    responses: { '200': ok('the lease', Lease), ...AUTH_ERRORS, '404': error('no such lease of yours') },
  },
  endLease: {
    method: 'delete',
    path: '/v1/leases/{id}',
    summary: 'End a lease now: the period under way stays paid, the rest of the budget is refunded',
    security: SIGNED_OR_KEY,
    request: { params: LeasePath },
    responses: {
      '202': ok('ending', Lease),
      ...AUTH_ERRORS,
      '404': error('no such lease of yours'),
      '409': error('the lease has ended already'),
    },
  },
} satisfies Record<string, Operation>;
