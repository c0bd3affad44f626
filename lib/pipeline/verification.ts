import type { Address } from '../types';
import type { NodeResult } from './results';
import type { NodeTask } from './dispatcher';

/** How one attempt's result is checked, decided by the program's policy after the result arrived. */
export interface CheckPlan {
  /** Share of the SubJob the verifier re-executes (0..1); 1 re-executes every row. */
  sampleRate: number;
  /** Why this much: the node is on probation, this SubJob was drawn for an audit, or a spot check. */
  why: 'probation' | 'audit' | 'spot';
  /** Seeds the verifier's sample; drawn by the L2 from a CSPRNG after the node answered. */
  seed: string;
  /**
   * The result is encrypted to the requester (fedavg-train): true when this attempt's update is
   * opened by the keyholder and compared value by value; false leaves the verifier a shape check.
   */
  openWithKeyholder: boolean;
}

/** What the verifier is handed: the node's task itself, the node it was assigned to, and its answer. */
export interface VerifyTask extends NodeTask {
  /** The node the workflow assigned; the result must be its signed answer to this very task. */
  node: Address;
  /**
   * Training: the node's update as the requester's keyholder decrypted it (a checked SubJob),
   * sealed by the keyholder to the verifiers' keys — the L2 never reads it.
   */
  sealedUpdate?: string;
  result: NodeResult;
  sampleRate: number;
  seed: string;
}

/** The verifier's signed statement (lib/attestations `Verdict`), bound to the attempt, node and output. */
export interface Verdict {
  subJobId: string;
  attempt: number;
  node: Address;
  outputDigest: string;
  valid: boolean;
  verifier: Address;
  rowsChecked: number;
  maxDiff: number;
  /** The fuel the verifier derived itself; what is paid. */
  fuelUsed: string;
  reason?: string;
  signature: string;
}

/** Verification on `emeth-l2`: which attempts are checked and how, per the program's policy. */
export interface VerificationActivities {
  planCheck(input: { subJobId: string; attempt: number; nodeId: Address }): Promise<CheckPlan>;
  /** The X25519 keys of the deployment's verifiers that have connected (what verifier tasks are sealed to). */
  verifierKeys(): Promise<string[]>;
  /** The requester's keyholder's X25519 key, once it has connected (what keyholder tasks are sealed to). */
  keyholderKey(requester: Address): Promise<string>;
}
