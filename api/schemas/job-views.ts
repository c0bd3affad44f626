/** What the Job routes answer: a Job with its fees, SubJobs and progress, pages, results, checkpoints. */
import { JOB_STATUSES, SUBJOB_STATUSES } from '../../lib/types';
import { ADDRESS, BLOB_ID, DATE_TIME, EMETH_AMOUNT, HOLON, JOB_ID, z } from './common';

const JOB_STATUS = z.enum(JOB_STATUSES);
const BLOB_OR_NULL = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .nullable();

const Fees = z
  .object({
    feeLimit: HOLON,
    verifierFee: HOLON,
    reserved: HOLON,
    charged: HOLON,
    refunded: HOLON,
    emeth: z.object({
      feeLimit: EMETH_AMOUNT,
      verifierFee: EMETH_AMOUNT,
      reserved: EMETH_AMOUNT,
      charged: EMETH_AMOUNT,
      refunded: EMETH_AMOUNT,
    }),
  })
  .openapi('Fees');

const JobSummary = z
  .object({
    id: JOB_ID,
    status: JOB_STATUS,
    requester: ADDRESS,
    programId: z.int(),
    dataset: BLOB_ID,
    model: BLOB_OR_NULL,
    params: z
      .record(z.string(), z.string())
      .openapi({ description: "the program's parameters as submitted" }),
    numParallel: z.int().min(1).max(256),
    numEpoch: z.int().min(1),
    splitAllowed: z.boolean(),
    capabilityClass: z.string(),
    layer: z.enum(['l1', 'l2']).openapi({
      description:
        "where the Job's money moves: l2 (tickets, batched) or l1 (every step on EmethCore, paper 7-2)",
    }),
    fuelLimit: HOLON,
    fuelPrice: HOLON,
    deadline: DATE_TIME,
    fees: Fees,
    result: BLOB_OR_NULL,
    reason: z.string().nullable().openapi({
      description: 'why the Job failed (null unless it did): what went wrong and who is at fault',
    }),
    workflowId: z.string().regex(/^job-0x[0-9a-f]{64}$/),
    temporalUiUrl: z
      .string()
      .openapi({ description: '<temporal UI>/namespaces/<namespace>/workflows/<workflowId>' }),
    createdAt: DATE_TIME,
    updatedAt: DATE_TIME,
  })
  .openapi('JobSummary');

const SubJob = z
  .object({
    index: z.int().min(0),
    epoch: z.int().min(0),
    status: z.enum(SUBJOB_STATUSES),
    nodeId: z
      .string()
      .regex(/^0x[0-9a-f]{40}$/)
      .nullable(),
    attempts: z.int().min(0),
    rows: z.int().min(0),
    fuelUsed: z
      .string()
      .regex(/^[0-9]+$/)
      .nullable(),
  })
  .openapi('SubJob');

const Progress = z
  .object({
    jobId: JOB_ID,
    status: JOB_STATUS,
    subJobs: z.object({
      total: z.int(),
      verified: z.int(),
      failed: z.int(),
      running: z.int(),
      waiting: z.int(),
    }),
    fees: z.object({ reserved: HOLON, charged: HOLON, refunded: HOLON }),
    source: z.enum(['workflow', 'database']).openapi({
      description: 'workflow: the live query answered within 2 s; database: derived from rows',
    }),
  })
  .openapi('Progress');

const ChainStep = z
  .object({
    event: z
      .string()
      .openapi({ description: "EmethCore's event: JobRequested, SubJobProcessing, SubJobVerified, …" }),
    subJobIndex: z.int().min(0).nullable(),
    actor: z
      .string()
      .regex(/^0x[0-9a-f]{40}$/)
      .nullable()
      .openapi({ description: 'the node, verifier or requester the event names' }),
    amount: z
      .string()
      .regex(/^[0-9]+$/)
      .nullable()
      .openapi({ description: 'what the event moved (payout, penalty, refund, escrow), holon' }),
    txHash: z.string().regex(/^0x[0-9a-f]{64}$/),
    blockNumber: z.int().min(0),
  })
  .openapi('ChainStep');

export const Job = JobSummary.extend({
  subJobs: z.array(SubJob),
  progress: Progress,
  chainSteps: z.array(ChainStep).openapi({
    description: "an L1 Job's steps on EmethCore, each with its transaction, in chain order (empty on l2)",
  }),
}).openapi('Job');

export const JobList = z
  .object({ jobs: z.array(JobSummary), nextCursor: z.string().nullable() })
  .openapi('JobList');

export const CancelAccepted = z
  .object({ id: JOB_ID, status: JOB_STATUS, cancelRequested: z.literal(true), message: z.string() })
  .openapi('CancelAccepted');

export const JobResult = z
  .object({
    jobId: JOB_ID,
    result: BLOB_ID,
    size: z.int().nullable().optional(),
    rows: z.int().nullable().optional(),
    download: z.string().regex(/^\/v1\/blobs\/[0-9a-f]{64}$/),
    fees: Fees,
  })
  .openapi('JobResult');

export const Checkpoints = z
  .object({
    jobId: JOB_ID,
    numEpoch: z.int(),
    checkpoints: z.array(
      z.object({
        epoch: z.int(),
        model: BLOB_ID,
        accuracy: z.number().nullable(),
        loss: z.number().nullable(),
        createdAt: z.string(),
      }),
    ),
  })
  .openapi('Checkpoints');
