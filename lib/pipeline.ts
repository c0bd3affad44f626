/**
 * The contract between the Job workflows and the activities they schedule, per task queue.
 * Everything here travels in Temporal payloads: ids and small descriptors only, never data.
 */
import type { Address, AttemptOutcome, BlobId, Holon, JobStatus, SubJobStatus } from './types';
import type { ShardRef } from './programs';

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
  /** The node's queue is `${nodeQueuePrefix}${nodeId}`. */
  nodeQueuePrefix: string;
  nodePickupTimeoutMs: number;
  nodeHeartbeatTimeoutMs: number;
  /** A requester's keyholder queue is `${keyholderQueuePrefix}${requester}`. */
  keyholderQueuePrefix: string;
}

export interface JobPlan {
  jobId: string;
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
  numEpoch: number;
  /** The requester's keyholder queue, for programs whose aggregate only the requester can decrypt. */
  keyholderQueue?: string;
  subJobs: SubJobPlan[];
}

export interface SubJobWorkflowInput {
  jobId: string;
  dispatch: DispatchSettings;
  /** Training: where a sampled node update is decrypted for the verifier. */
  keyholderQueue?: string;
  requester: Address;
  plan: SubJobPlan;
  capabilityClass: string;
  deadline: number;
  maxAttempts: number;
}

/** What the L2 sends a node: where to fetch its inputs and how much fuel it may burn. */
export interface NodeTask {
  jobId: string;
  subJobId: string;
  programId: number;
  shard: ShardRef;
  modelBlobId: BlobId;
  /** Program parameters (fedavg-train: train graph, public key, local steps, ...). */
  params?: Record<string, string>;
  fuelLimit: string;
  attempt: number;
}

export interface NodeResult {
  subJobId: string;
  nodeId: Address;
  output: BlobId;
  fuelUsed: string;
  /** EIP-191 signature by the node over `nodeResultMessage(...)`. */
  signature: string;
  /** Which onnxruntime execution provider ran it. */
  executionProvider: string;
}

export interface VerifyTask {
  jobId: string;
  subJobId: string;
  programId: number;
  shard: ShardRef;
  modelBlobId: BlobId;
  params?: Record<string, string>;
  /** Training: the node's update as the requester's keyholder decrypted it (a sampled SubJob). */
  plainUpdate?: number[];
  attempt: number;
  result: NodeResult;
  /** Every row is re-run for nodes without a track record. */
  sampleRate: number;
  seed: string;
  fuelLimit: string;
}

export interface Verdict {
  subJobId: string;
  valid: boolean;
  verifier: Address;
  rowsChecked: number;
  maxDiff: number;
  /** The fuel the verifier derived itself; what is paid. */
  fuelUsed: string;
  reason?: string;
  signature: string;
}

export interface NodeChoice {
  nodeId: Address;
  /** Completed SubJobs so far: nodes with fewer than 3 are fully re-checked. */
  trackRecord: number;
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
}

export interface JobOutcome {
  jobId: string;
  status: Extract<JobStatus, 'completed' | 'failed' | 'cancelled'>;
  result?: BlobId;
  charged: Holon;
  refunded: Holon;
  subJobs: SubJobOutcome[];
}

/** Control activities on `emeth-l2`: they alone touch the database and the L2 keys. */
export interface L2Activities {
  planJob(jobId: string): Promise<Omit<JobPlan, 'subJobs'>>;
  reserveJob(jobId: string): Promise<{ reserved: Holon }>;
  /** The SubJobs of an epoch (training repeats the epoch-0 shards every epoch). */
  splitJob(jobId: string, epoch?: number): Promise<SubJobPlan[]>;
  /** Training: Σ rows × encrypted update of the epoch, without any secret key. */
  aggregateEpoch(jobId: string, epoch: number): Promise<{ sum: BlobId; weight: number; globalModel: BlobId }>;
  recordCheckpoint(input: {
    jobId: string;
    epoch: number;
    model: BlobId;
    accuracy?: number;
    loss?: number;
  }): Promise<void>;
  /** Lets the Job's requester (its keyholder) read a blob, e.g. one update it decrypts for the verifier. */
  shareWithRequester(input: { jobId: string; blob: BlobId }): Promise<void>;
  /** Training: the blobs the keyholder needs besides the aggregate. */
  trainingParams(jobId: string): Promise<{ trainGraph: BlobId; testSet?: BlobId }>;
  setJobStatus(jobId: string, status: JobStatus): Promise<void>;
  setSubJobStatus(subJobId: string, status: SubJobStatus, nodeId?: Address): Promise<void>;
  chooseNode(input: {
    jobId: string;
    subJobId: string;
    capabilityClass: string;
    exclude: Address[];
  }): Promise<NodeChoice | null>;
  /** Opens attempt `attempt` for `nodeId` (idempotent) and returns what the node needs. */
  nodeTask(input: { subJobId: string; attempt: number; nodeId: Address }): Promise<NodeTask>;
  /** Closes an attempt; a penalised outcome burns the node's penalty once (keyed by subJobId+attempt). */
  closeAttempt(input: {
    subJobId: string;
    nodeId: Address;
    attempt: number;
    outcome: AttemptOutcome;
    reason?: string;
  }): Promise<void>;
  acceptResult(input: { result: NodeResult; verdict: Verdict; attempt: number }): Promise<void>;
  /** The Signer's step: batch pending tickets under a Merkle root and sign it (none pending: null). */
  signPendingTickets(): Promise<{ batchId: number; tickets: number; total: Holon } | null>;
  aggregateJob(jobId: string): Promise<{ result: BlobId }>;
  /** Tickets for verified SubJobs, charge them, release the rest of the reservation. */
  settleJob(jobId: string, status: JobOutcome['status']): Promise<{ charged: Holon; refunded: Holon }>;
}

/** On `emeth-keyholder-<requester>`, served by the requester's keyholder (it holds the CKKS secret key). */
export interface KeyholderActivities {
  /** Decrypts the epoch's aggregate, updates the global model, stores and evaluates the checkpoint. */
  finishEpoch(input: {
    jobId: string;
    epoch: number;
    sum: BlobId;
    globalModel: BlobId;
    testSet?: BlobId;
    trainGraph: BlobId;
  }): Promise<{
    checkpoint: BlobId;
    accuracy?: number;
    loss?: number;
  }>;
  /**
   * One node's update in the clear, for the verifier (the requester owns the data). Bytes that do
   * not open under the requester's key come back as `rejected` (the node's fault); the keyholder's
   * own troubles throw.
   */
  decryptUpdate(input: {
    jobId: string;
    subJobId: string;
    update: BlobId;
  }): Promise<{ values: number[] } | { rejected: string }>;
}

/** On `emeth-node-<id>`, served by the node worker. */
export interface NodeActivities {
  runSubJob(task: NodeTask): Promise<NodeResult>;
}

/** On `emeth-verifier`, served by the verifier worker. */
export interface VerifierActivities {
  verifySubJob(task: VerifyTask): Promise<Verdict>;
}

/** The node's signed statement: binds the output and fuel to the SubJob and the attempt. */
export function nodeResultMessage(
  r: Pick<NodeResult, 'subJobId' | 'output' | 'fuelUsed'>,
  attempt: number,
): string {
  return ['EMETH-RESULT-V1', r.subJobId, String(attempt), r.output, r.fuelUsed].join('\n');
}

export function verdictMessage(v: Pick<Verdict, 'subJobId' | 'valid' | 'fuelUsed' | 'rowsChecked'>): string {
  return [
    'EMETH-VERDICT-V1',
    v.subJobId,
    v.valid ? 'valid' : 'invalid',
    v.fuelUsed,
    String(v.rowsChecked),
  ].join('\n');
}

export const SIGNALS = { cancel: 'cancel', decline: 'decline' } as const;

/** Error type a node's activity throws to decline a SubJob (the same path as the decline signal). */
export const DECLINE_ERROR = 'EmethDecline';
export const QUERIES = { progress: 'progress' } as const;
