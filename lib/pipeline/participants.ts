/** Activities served on participants' machines, each on its own task queue. */
import type { BlobId } from '../types';
import type { NodeTask } from './dispatcher';
import type { NodeResult } from './results';
import type { Verdict, VerifyTask } from './verification';

/** On `emeth-node-<id>`, served by the node worker. */
export interface NodeActivities {
  runSubJob(task: NodeTask): Promise<NodeResult>;
}

/** On `emeth-verifier`, served by the verifier worker. */
export interface VerifierActivities {
  verifySubJob(task: VerifyTask): Promise<Verdict>;
  /**
   * Re-runs a SubJob whose program failed on its node: `reproduced` when the same input fails here
   * with the same program error code (the requester's input is at fault), not when it runs.
   */
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
