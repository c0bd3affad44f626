/**
 * The Execution Layer's domain types (SPEC §1), shared by workflows, activities, the gateway and
 * the CLI. Amounts are holon as decimal strings: bigint does not survive Temporal's JSON payloads.
 */

/** A decimal string of holon (10^-18 EMETH). */
export type Holon = string;
/** 0x-prefixed lower-case hex of a sha-256 content id in EMETH Storage. */
export type BlobId = string;
/** 0x-prefixed, checksummed or lower-case EVM address. */
export type Address = string;

/** A Job's lifecycle, in order; the gateway's validation and OpenAPI document read this list. */
export const JOB_STATUSES = [
  'submitted', // accepted by the gateway, workflow not started yet
  'reserved', // the requester's deposit covers it; money set aside
  'splitting',
  'running',
  'aggregating',
  'settling',
  'completed',
  'failed',
  'cancelled',
] as const;

export type JobStatus = (typeof JOB_STATUSES)[number];

export const SUBJOB_STATUSES = [
  'pending',
  'waiting-for-node', // no node of the class is online: visible, not a hang
  'assigned',
  'running',
  'verifying',
  'verified',
  'failed', // retries exhausted
  'cancelled',
] as const;

export type SubJobStatus = (typeof SUBJOB_STATUSES)[number];

/** How one node's attempt at a SubJob ended. */
/**
 * How an attempt ended. `input-fault`: the program failed on the node and the verifier's re-run of
 * the same input failed the same way — the requester's input, not the node, is at fault.
 */
export type AttemptOutcome = 'verified' | 'rejected' | 'timeout' | 'declined' | 'cancelled' | 'input-fault';

export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

export interface JobSpec {
  programId: number;
  dataset: BlobId;
  /** Program-specific inputs, e.g. the model blob of onnx-inference. */
  params: Record<string, string | number | boolean>;
  numParallel: number;
  numEpoch: number;
  splitAllowed: boolean;
  fuelLimit: string;
  fuelPrice: Holon;
  /** ISO-8601 instant after which unfinished work times out. */
  deadline: string;
}

export interface JobProgress {
  jobId: string;
  status: JobStatus;
  subJobs: { total: number; verified: number; failed: number; running: number; waiting: number };
  /** Holon reserved, charged (paid to nodes and verifiers) and refunded so far. */
  fees: { reserved: Holon; charged: Holon; refunded: Holon };
}
