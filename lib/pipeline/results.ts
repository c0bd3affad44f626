import type { Address, BlobId } from '../types';
import type { Verdict } from './verification';
import type { NodeTask } from './dispatcher';

/**
 * A node's answer to its task. Every field is checked against the assignment the workflow made
 * (lib/attestations: the EIP-712 `Result` statement); a result that does not match is no answer.
 */
export interface NodeResult {
  jobId: string;
  subJobId: string;
  attempt: number;
  nodeId: Address;
  /** inputDigestOf(task): what the node says it was handed. */
  inputDigest: string;
  output: BlobId;
  fuelUsed: string;
  /** EIP-712 signature by the node over its `Result` statement. */
  signature: string;
  /** Which onnxruntime execution provider ran it. */
  executionProvider: string;
}

/** The assignment a statement must match: the task the workflow handed to the node it chose. */
export interface Assignment {
  task: NodeTask;
  nodeId: Address;
}

/** Results on `emeth-l2`: a node's signed result, bound to its assignment and recorded with its verdict. */
export interface ResultsActivities {
  /** Whether `result` is the assigned node's signed answer to exactly this task; why not, if not. */
  checkResult(
    input: Assignment & { result: NodeResult },
  ): Promise<{ bound: true } | { bound: false; reason: string }>;
  /**
   * Records a verified result with its verdict. `replica`: the result of the SubJob's second,
   * independent run; recorded (and later ticketed to its node) without becoming the SubJob's output.
   */
  acceptResult(input: Assignment & { result: NodeResult; verdict: Verdict; replica?: boolean }): Promise<void>;
  /**
   * Whether a replica's revealed result and salt open the commitment it made before its twin
   * revealed; a reveal that does not is no answer.
   */
  checkReveal(input: {
    commitment: string;
    result: NodeResult;
    salt: string;
  }): Promise<{ opened: true } | { opened: false; reason: string }>;
}
