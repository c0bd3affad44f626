/**
 * What the API returns, built from database rows. Amounts are holon as decimal strings (uint256
 * does not fit a JSON number) with an EMETH rendering beside them for people.
 */
import { formatEmeth } from '../lib/fees';
import type { JobProgress, JobStatus, SubJobStatus } from '../lib/types';
import type { Prisma } from '../prisma/client';

type Job = Prisma.JobGetPayload<object>;
type SubJob = Prisma.SubJobGetPayload<object>;
type Node = Prisma.NodeGetPayload<object>;

export const holon = (d: Prisma.Decimal | null | undefined): string => (d ? d.toFixed(0) : '0');
const emeth = (d: Prisma.Decimal | null | undefined): string => formatEmeth(BigInt(holon(d)));

export interface FeesView {
  feeLimit: string;
  verifierFee: string;
  reserved: string;
  charged: string;
  refunded: string;
  emeth: { feeLimit: string; verifierFee: string; reserved: string; charged: string; refunded: string };
}

export interface JobSummaryView {
  id: string;
  status: JobStatus;
  requester: string;
  programId: number;
  dataset: string;
  model: string | null;
  /** The program's parameters as submitted (blob ids, training settings, histogram range), as strings. */
  params: Record<string, string>;
  numParallel: number;
  numEpoch: number;
  splitAllowed: boolean;
  capabilityClass: string;
  layer: 'l1' | 'l2';
  fuelLimit: string;
  fuelPrice: string;
  deadline: string;
  fees: FeesView;
  result: string | null;
  /** Why the Job failed, when it did. */
  reason: string | null;
  workflowId: string;
  temporalUiUrl: string;
  createdAt: string;
  updatedAt: string;
}

export interface SubJobView {
  index: number;
  epoch: number;
  status: SubJobStatus;
  nodeId: string | null;
  attempts: number;
  rows: number;
  fuelUsed: string | null;
}

export type ProgressView = JobProgress & { source: 'workflow' | 'database' };

/** One of an L1 Job's steps on EmethCore, as its event was read back from the chain. */
export interface ChainStepView {
  event: string;
  subJobIndex: number | null;
  actor: string | null;
  amount: string | null;
  txHash: string;
  blockNumber: number;
}

export interface JobView extends JobSummaryView {
  subJobs: SubJobView[];
  progress: ProgressView;
  chainSteps: ChainStepView[];
}

export function chainStepView(s: Prisma.ChainStepGetPayload<object>): ChainStepView {
  return {
    event: s.event,
    subJobIndex: s.subJobIndex,
    actor: s.actor,
    amount: s.amount ? holon(s.amount) : null,
    txHash: s.txHash,
    blockNumber: s.blockNumber,
  };
}

export function temporalUiLink(base: string, namespace: string, workflowId: string): string {
  return `${base.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export function feesView(job: Job): FeesView {
  const feeLimit = job.fuelLimit.mul(job.fuelPrice);
  return {
    feeLimit: holon(feeLimit),
    verifierFee: holon(job.verifierFee),
    reserved: holon(job.reserved),
    charged: holon(job.charged),
    refunded: holon(job.refunded),
    emeth: {
      feeLimit: emeth(feeLimit),
      verifierFee: emeth(job.verifierFee),
      reserved: emeth(job.reserved),
      charged: emeth(job.charged),
      refunded: emeth(job.refunded),
    },
  };
}

export function jobSummaryView(job: Job, link: (workflowId: string) => string): JobSummaryView {
  const params = (job.params ?? {}) as Record<string, unknown>;
  return {
    id: job.id,
    status: job.status as JobStatus,
    requester: job.requester,
    programId: job.programId,
    dataset: job.dataset,
    model: typeof params.model === 'string' ? params.model : null,
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
    numParallel: job.numParallel,
    numEpoch: job.numEpoch,
    splitAllowed: job.splitAllowed,
    capabilityClass: job.capabilityClass,
    layer: job.layer === 'l1' ? 'l1' : 'l2',
    fuelLimit: holon(job.fuelLimit),
    fuelPrice: holon(job.fuelPrice),
    deadline: job.deadline.toISOString(),
    fees: feesView(job),
    result: job.result,
    reason: job.reason ?? null,
    workflowId: job.workflowId,
    temporalUiUrl: link(job.workflowId),
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
  };
}

export function subJobView(s: SubJob): SubJobView {
  return {
    index: s.index,
    epoch: s.epoch,
    status: s.status as SubJobStatus,
    nodeId: s.nodeId,
    attempts: s.attempts,
    rows: s.rows,
    fuelUsed: s.fuelUsed ? holon(s.fuelUsed) : null,
  };
}

/** Progress from the rows, for when the workflow does not answer its query (no worker, ended, slow). */
export function progressFromRows(job: Job, subJobs: SubJob[]): ProgressView {
  const count = (...statuses: SubJobStatus[]) =>
    subJobs.filter((s) => statuses.includes(s.status as SubJobStatus)).length;
  return {
    jobId: job.id,
    status: job.status as JobStatus,
    subJobs: {
      total: subJobs.length,
      verified: count('verified'),
      failed: count('failed'),
      running: count('assigned', 'running', 'verifying'),
      waiting: count('pending', 'waiting-for-node'),
    },
    fees: { reserved: holon(job.reserved), charged: holon(job.charged), refunded: holon(job.refunded) },
    source: 'database',
  };
}

export interface NodeView {
  address: string;
  capabilityClass: string;
  status: string;
  encryptionKey: string | null;
  lastSeenAt: string;
  registeredAt: string;
  completed: number;
  failures: number;
}

export function nodeView(n: Node): NodeView {
  return {
    address: n.id,
    capabilityClass: n.capabilityClass,
    status: n.status,
    encryptionKey: n.encryptionKey,
    lastSeenAt: n.lastSeenAt.toISOString(),
    registeredAt: n.registeredAt.toISOString(),
    completed: n.completed,
    failures: n.failures,
  };
}
