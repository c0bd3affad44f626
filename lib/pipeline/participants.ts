/** Activities served on participants' machines, each on its own task queue. */
import type { BlobId } from '../types';
import type { NodeTask } from './dispatcher';
import type { NodeResult } from './results';
import type { Verdict, VerifyTask } from './verification';
import type { L1ActionInput, L1ActionResult } from './layer';

/** On `emeth-node-<id>`, served by the node worker. */
export interface NodeActivities {
  runSubJob(task: NodeTask): Promise<NodeResult>;
  /**
   * Replication, phase 1: runs the SubJob as runSubJob does but answers only a commitment to its
   * signed result (lib/attestations `replicaCommitment`), keeping the result until phase 2. Both
   * replicas commit before either reveals, so neither can copy the other.
   */
  commitSubJob(task: NodeTask): Promise<NodeCommitment>;
  /** Replication, phase 2: the result committed to, and the salt that opens the commitment. */
  revealSubJob(input: { subJobId: string; attempt: number }): Promise<{ result: NodeResult; salt: string }>;
  /** GPU rental (paper 5-2): the node is there for this period of a lease that holds it. */
  confirmLease(input: { leaseId: string; period: number }): Promise<{ nodeId: string }>;
}

/** A replica's phase-1 answer: keccak256 of its signed result and a secret salt. */
export interface NodeCommitment {
  subJobId: string;
  attempt: number;
  nodeId: string;
  commitment: string;
}

/** On `emeth-verifier`, served by the verifier worker. */
export interface VerifierActivities {
  verifySubJob(task: VerifyTask): Promise<Verdict>;
  /**
   * Replication: whether two replicas' outputs hold the same bytes once opened (each is sealed
   * apart, so their blob ids differ even when their contents do not). Reads, never re-executes.
   */
  compareReplicas(input: { jobId: string; subJobId: string; outputs: [BlobId, BlobId] }): Promise<{
    identical: boolean;
  }>;
  /**
   * Re-runs a SubJob whose program failed on its node: `reproduced` when the same input fails here
   * with the same program error code (the requester's input is at fault), not when it runs.
   */
  /**
   * An L1 Job's SubJob judged: the verifier sends `verify` (paying the node, refunding the
   * requester, earning its fee), `reject` or `timeout` on EmethCore with its own key.
   */
  actOnL1(input: L1ActionInput): Promise<L1ActionResult>;
  reproduceFailure(input: { task: NodeTask; node: string; code: string; message: string }): Promise<{
    reproduced: boolean;
    code?: string;
    message?: string;
  }>;
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
    /** Which program's output it is: a fedavg update envelope or an encrypted-stats bundle. */
    programId?: number;
    update: BlobId;
    /** The verifiers' X25519 keys: the values are sealed to them alone (base64 envelope), rounded. */
    sealValuesTo: string[];
  }): Promise<{ sealedValues: string } | { rejected: string }>;
}
