/**
 * Nodes: register or refresh (wallet-signed, after staking on EmethCore), list, read one, the
 * tickets and redemptions of the address they pay (a node its fuel, a verifier its fees), and a
 * node's GPU Mining Program rewards with the proofs EmethMining.claimMany takes.
 */
import { textField } from '../../lib/schema-fields';
import {
  ADDRESS,
  AUTH_ERRORS,
  AddressParam,
  DATE_TIME,
  HOLON,
  JOB_ID,
  SIGNED_ONLY,
  SIGNED_OR_KEY,
  CAPABILITY_CLASS_PATTERN,
  capabilityClass,
  error,
  ok,
  z,
  type Operation,
} from './common';

export const RegisterNodeBody = z
  .strictObject({
    capabilityClass: capabilityClass(
      'a capability class (lower-case letters, digits and -, at most 32), e.g. cpu or h100',
    ),
    encryptionKey: textField({
      pattern: /^[0-9a-f]{64}$/,
      maxLength: 64,
      expect: 'a 32-byte X25519 public key as 64 lower-case hex characters',
      description: "the node's X25519 public key; its inputs are wrapped to it",
    }).optional(),
  })
  .openapi('RegisterNode');

export const ListNodesQuery = z.strictObject({
  // Empty means "any class", as an absent filter does: a form or script may send the key blank.
  capabilityClass: textField({
    pattern: new RegExp(`^(?:${CAPABILITY_CLASS_PATTERN.source.slice(1, -1)})?$`),
    maxLength: 32,
    expect: 'a capability class',
    description: 'only nodes of this class; empty or absent: every class',
  }).optional(),
  status: z.enum(['online', 'offline'], 'one of online, offline').optional(),
});

export const TicketsQuery = z.strictObject({
  redeemed: z.enum(['true', 'false'], 'true or false').optional(),
});

export const NodePath = z.object({ address: AddressParam });

const Node = z
  .object({
    address: ADDRESS,
    capabilityClass: z.string(),
    status: z.enum(['online', 'offline']),
    encryptionKey: z.string().nullable(),
    lastSeenAt: DATE_TIME,
    registeredAt: DATE_TIME,
    completed: z.int().min(0),
    failures: z.int().min(0),
    stake: HOLON.optional().openapi({ description: 'on EmethCore, holon (single node reads only)' }),
  })
  .openapi('Node');

const NodeList = z.object({ nodes: z.array(Node) }).openapi('NodeList');

const Ticket = z
  .object({
    role: z.enum(['node', 'verifier']).openapi({
      description:
        'whom the ticket pays: its node (amount) or its verifier (verifierFee); the other part is 0',
    }),
    ticket: z.object({
      jobId: JOB_ID,
      subJobId: JOB_ID,
      node: ADDRESS,
      requester: ADDRESS,
      amount: HOLON,
      verifier: z.string(),
      verifierFee: HOLON,
    }),
    batch: z.object({ batchId: z.int(), root: z.string(), total: HOLON, signature: z.string() }).nullable(),
    leafIndex: z.int().nullable(),
    proof: z.array(z.string()).nullable(),
    redeemedAt: DATE_TIME.nullable(),
  })
  .openapi('Ticket');

const TicketList = z.object({ tickets: z.array(Ticket) }).openapi('TicketList');

const Redemptions = z
  .object({
    redemptions: z.array(
      z.object({
        batch: z.object({ batchId: z.int(), root: z.string(), total: HOLON, signature: z.string() }),
        tickets: z.array(z.record(z.string(), z.unknown())),
        indices: z.array(z.int()),
        proof: z.array(z.string()),
        proofFlags: z.array(z.boolean()),
      }),
    ),
  })
  .openapi('Redemptions', { description: 'EmethCore.redeemMany arguments, one multiproof per batch' });

const FUEL = z
  .string()
  .regex(/^[0-9]+$/)
  .openapi({ description: 'fuel units as a decimal string' });

const MiningReward = z
  .object({
    epoch: z.int().min(0),
    fuel: FUEL.openapi({ description: "the node's verified, ticketed fuel in the epoch" }),
    totalFuel: FUEL.openapi({ description: "every node's verified fuel in the epoch, as posted" }),
    pool: HOLON.openapi({ description: 'holon EmethMining allocated to the epoch when it was posted' }),
    amount: HOLON.openapi({ description: 'floor(pool × fuel / totalFuel): what a claim pays, in holon' }),
    claimed: z.boolean().openapi({ description: 'read from EmethMining (hasClaimed)' }),
    claimDeadline: DATE_TIME.nullable().openapi({ description: 'claims are accepted before this time' }),
    proof: z.array(z.string()).openapi({ description: 'bytes32 Merkle siblings for claim/claimMany' }),
    txHash: z.string().nullable().openapi({ description: "the epoch's postEpoch transaction" }),
  })
  .openapi('MiningReward');

const MiningRewards = z
  .object({
    node: ADDRESS,
    mining: ADDRESS.openapi({ description: 'the EmethMining contract' }),
    rewards: z.array(MiningReward),
    totals: z.object({
      claimable: HOLON.openapi({ description: 'unclaimed amounts of epochs still open for claims, holon' }),
      claimed: HOLON.openapi({ description: 'amounts already claimed, holon' }),
      expired: HOLON.openapi({ description: 'unclaimed amounts whose claim window has closed, holon' }),
    }),
  })
  .openapi('MiningRewards', {
    description:
      "a node's share of each posted mining epoch it did verified work in, oldest first; claim with EmethMining.claimMany(epochs, fuels, proofs) from the node's own key",
  });

export const nodeOperations = {
  registerNode: {
    method: 'post',
    path: '/v1/nodes',
    summary: 'Register or refresh the signing node (after staking on EmethCore)',
    security: SIGNED_ONLY,
    request: {
      body: { required: true, content: { 'application/json': { schema: RegisterNodeBody } } },
    },
    responses: {
      '200': ok('refreshed', Node),
      '201': ok('registered', Node),
      ...AUTH_ERRORS,
      '403': error('no stake on EmethCore'),
      '503': error('the chain could not be reached'),
    },
  },
  listNodes: {
    method: 'get',
    path: '/v1/nodes',
    summary: 'Registered nodes',
    security: SIGNED_OR_KEY,
    request: { query: ListNodesQuery },
    responses: { '200': ok('the nodes', NodeList), ...AUTH_ERRORS },
  },
  getNode: {
    method: 'get',
    path: '/v1/nodes/{address}',
    summary: 'One node with its record and stake',
    security: SIGNED_OR_KEY,
    request: { params: NodePath },
    responses: {
      '200': ok('the node', Node),
      ...AUTH_ERRORS,
      '404': error('not registered'),
      '503': error('the chain could not be reached'),
    },
  },
  getNodeTickets: {
    method: 'get',
    path: '/v1/nodes/{address}/tickets',
    summary:
      'The tickets paying this address (a node its fuel, a verifier its fees) with batch signature and Merkle proof (that address itself only)',
    security: SIGNED_OR_KEY,
    request: { params: NodePath, query: TicketsQuery },
    responses: { '200': ok('the tickets', TicketList), ...AUTH_ERRORS, '403': error('not this node') },
  },
  getNodeRedemptions: {
    method: 'get',
    path: '/v1/nodes/{address}/redemptions',
    summary:
      'The unredeemed tickets paying this address (a node or a verifier) as EmethCore.redeemMany arguments, one multiproof per batch (that address itself only)',
    security: SIGNED_OR_KEY,
    request: { params: NodePath },
    responses: {
      '200': ok('one entry per batch', Redemptions),
      ...AUTH_ERRORS,
      '403': error('another node’s redemptions'),
    },
  },
  getNodeRewards: {
    method: 'get',
    path: '/v1/nodes/{address}/rewards',
    summary:
      "The node's GPU Mining Program rewards: per posted epoch its verified fuel, the pool, what a claim pays, whether it claimed, and the Merkle proof (that node itself only)",
    security: SIGNED_OR_KEY,
    request: { params: NodePath },
    responses: {
      '200': ok('one entry per posted epoch the node has fuel in', MiningRewards),
      ...AUTH_ERRORS,
      '403': error('another node’s rewards'),
      '404': error('this deployment has no EmethMining contract'),
      '503': error('the chain could not be reached'),
    },
  },
} satisfies Record<string, Operation>;
