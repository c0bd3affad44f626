/**
 * What the Job and SubJob workflows hand each other and return. Everything here travels in
 * Temporal payloads: ids and small descriptors only, never data.
 */
import type { Address, BlobId, Holon, JobStatus, SubJobStatus } from '../types';
import type { Layer } from './layer';

export interface JobWorkflowInput {
  jobId: string;
  /** Set when a training Job continues as new between epochs. */
  resume?: { epoch: number; reserved: Holon };
}

export interface SubJobPlan {
  subJobId: string;
  index: number;
  epoch: number;
  programId: number;
  shard: BlobId;
  rows: number;
  fuelLimit: string;
}

/** Queue names and node timeouts the L2 server chose; workflows cannot read config themselves. */
export interface DispatchSettings {
  verifierQueue: string;
  /** One verifier's own queue (its audits and disputes) is `${verifierQueuePrefix}${address}`. */
  verifierQueuePrefix?: string;
  /** The node's queue is `${nodeQueuePrefix}${nodeId}`. */
  nodeQueuePrefix: string;
  nodePickupTimeoutMs: number;
  nodeHeartbeatTimeoutMs: number;
  /** A requester's keyholder queue is `${keyholderQueuePrefix}${requester}`. */
  keyholderQueuePrefix: string;
}

export interface JobPlan {
  jobId: string;
  /** Where the Job's money moves (lib/pipeline/layer.ts); absent: 'l2'. */
  layer?: Layer;
  dispatch: DispatchSettings;
  requester: Address;
  programId: number;
  capabilityClass: string;
  /** Unix ms; SubJobs not verified by then time out. */
  deadline: number;
  maxAttempts: number;
  /** Children running at once. */
  window: number;
  /** Training rounds (fedavg-train); 1 for everything else. */
  /** 2 when every SubJob runs on two independent nodes (commit–reveal); absent: 1. */
  replicas?: number;
  numEpoch: number;
  /**
   * The requester's keyholder queue, for programs whose outputs are encrypted to the requester:
   * it opens audited outputs for the verifier, and (with `aggregateAtKeyholder`) each epoch's aggregate.
   */
  keyholderQueue?: string;
  /** Training: the aggregate stays encrypted and only the keyholder can finish the epoch. */
  aggregateAtKeyholder?: boolean;
  subJobs: SubJobPlan[];
}

export interface SubJobWorkflowInput {
  jobId: string;
  /** 'l1': the SubJob's steps happen on EmethCore (lib/pipeline/layer.ts); absent: 'l2'. */
  layer?: Layer;
  /** L1: how long a node has on chain from `process` to `submit` (EmethCore processingTimeLimit), ms. */
  l1ProcessingMs?: number;
  dispatch: DispatchSettings;
  /** Where an audited, encrypted output is decrypted for the verifier (fedavg-train, encrypted-stats). */
  keyholderQueue?: string;
  requester: Address;
  plan: SubJobPlan;
  capabilityClass: string;
  deadline: number;
  maxAttempts: number;
  /** 2: the SubJob runs on two independent nodes at once, which commit before either reveals. */
  replicas?: number;
}

export interface SubJobOutcome {
  subJobId: string;
  index: number;
  status: Extract<SubJobStatus, 'verified' | 'failed' | 'cancelled'>;
  nodeId?: Address;
  output?: BlobId;
  fuelUsed?: string;
  attempts: number;
  reason?: string;
  /** `input`: the requester's input fails on every executor (the Job cannot complete). */
  fault?: 'input';
}

export interface JobOutcome {
  jobId: string;
  status: Extract<JobStatus, 'completed' | 'failed' | 'cancelled'>;
  result?: BlobId;
  charged: Holon;
  refunded: Holon;
  /** Why it failed, when it did. */
  reason?: string;
  subJobs: SubJobOutcome[];
}

/** A refusal the workflow must not retry (the request itself is wrong). */
export const REFUSED_ERROR = 'EmethRefused';

export const SIGNALS = { cancel: 'cancel', decline: 'decline' } as const;

/** Error type a node's activity throws to decline a SubJob (with its signed Decline in the details). */
export const DECLINE_ERROR = 'EmethDecline';
/**
 * Error type a node's activity throws when the program itself failed on the input; the details
 * carry the program's error code. The verifier re-runs the input to tell whose fault it is.
 */
export const PROGRAM_ERROR = 'EmethProgramError';
export const QUERIES = { progress: 'progress' } as const;
