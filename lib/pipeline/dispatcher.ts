import type { Address, AttemptOutcome, BlobId, JobStatus, SubJobStatus } from '../types';
import type { ShardRef } from '../programs';

export interface NodeChoice {
  nodeId: Address;
  /** Completed SubJobs so far (every program, every requester). */
  trackRecord: number;
}

/** What the L2 sends a node: where to fetch its inputs and how much fuel it may burn. */
export interface NodeTask {
  jobId: string;
  subJobId: string;
  programId: number;
  shard: ShardRef;
  modelBlobId: BlobId;
  /** The program's run parameters (fedavg-train: train graph, public key, local steps, ...). */
  params?: Record<string, string>;
  fuelLimit: string;
  attempt: number;
  /**
   * An L1 Job's SubJob: the node takes it on chain (`process`, locking its deposit) before it
   * runs, and `submit`s its result digest after, both with its own key.
   */
  l1?: { index: number };
}

/** The Dispatcher on `emeth-l2`: who runs a SubJob, the attempts it opens and closes, penalties. */
export interface DispatcherActivities {
  chooseNode(input: {
    jobId: string;
    subJobId: string;
    capabilityClass: string;
    exclude: Address[];
  }): Promise<NodeChoice | null>;
  /**
   * Opens attempt `attempt` for `nodeId` (idempotent) and returns what the node needs, the node's
   * registered X25519 key the task is sealed to, and the node of record: an attempt opened before
   * an L2 crash keeps the node it was opened for, whatever the workflow chose on replay.
   */
  openAttempt(input: {
    subJobId: string;
    attempt: number;
    nodeId: Address;
    /** A canary's attempt: recorded and locked like any, but the SubJob's own row is left alone. */
    canary?: boolean;
  }): Promise<{ task: NodeTask; nodeKey: string; nodeId: Address }>;
  /**
   * Closes an attempt; a penalised outcome burns the node's penalty once (keyed by subJobId+attempt).
   * A decline counts only with the assigned node's signed `Decline` for this attempt (lib/attestations);
   * any other decline is no answer, closed as a timeout.
   */
  closeAttempt(input: {
    subJobId: string;
    nodeId: Address;
    attempt: number;
    outcome: AttemptOutcome;
    reason?: string;
    declineSignature?: string;
    /**
     * A rejection: the verifier whose upheld verdict proved the lie (or, under replication, the
     * honest replica). It receives EmethCore's proverShare of the fine; without one it is all burned.
     */
    prover?: Address;
  }): Promise<void>;
}

/** The status rows the gateway shows (the workflows own the truth; the rows mirror it). */
export interface StatusActivities {
  setJobStatus(jobId: string, status: JobStatus): Promise<void>;
  setSubJobStatus(subJobId: string, status: SubJobStatus, nodeId?: Address): Promise<void>;
}
