import type { Address, BlobId } from '../types';
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

/** A second verifier's re-check of a verdict, decided after the verdict came (so no verifier knows which). */
export interface VerdictAuditPlan {
  /** The first check's share for an accepting verdict; every row for a rejecting one. */
  sampleRate: number;
  seed: string;
}

/** The verdicts of one audited attempt: the first, the auditor's, and a referee's if they disagreed. */
export interface AuditedVerdicts {
  first: Verdict;
  audit: Verdict;
  referee?: Verdict;
}

/** Verification on `emeth-l2`: which attempts are checked and how, per the program's policy. */
export interface VerificationActivities {
  planCheck(input: { subJobId: string; attempt: number; nodeId: Address }): Promise<CheckPlan>;
  /**
   * Whether `verdict` is re-checked by a second verifier (every rejection; a sample of acceptances);
   * null also when fewer than two other verifiers are online to audit and referee.
   */
  planVerdictAudit(input: { verdict: Verdict; sampleRate: number }): Promise<VerdictAuditPlan | null>;
  /**
   * An online verifier outside `exclude`, with stake to cover a wrong verdict's fine, at random:
   * an auditor, or the referee of a disagreement (every row, with this fresh seed). Null if none.
   */
  chooseVerifier(input: {
    subJobId: string;
    attempt: number;
    exclude: Address[];
  }): Promise<{ verifier: Address; seed: string } | null>;
  /**
   * Records an audit and, when the referee overruled a verifier, fines that verifier's stake
   * (prover: the verifier it overruled in favour of). Each verdict's signature must be its
   * verifier's over this attempt's output; returns the verdict the result is taken by. Idempotent.
   */
  settleVerdictAudit(input: { output: BlobId; verdicts: AuditedVerdicts }): Promise<Verdict>;
  /**
   * Whether this SubJob, just verified by `nodeId` with `rowsChecked` rows re-executed, is re-issued
   * as a canary (canaryRate, drawn here; only after a check of every row, so its answer is known),
   * to which other online node of its class, on which attempt, and the known output. Null if not.
   */
  planCanary(input: {
    subJobId: string;
    nodeId: Address;
    rowsChecked: number;
  }): Promise<{ nodeId: Address; attempt: number; knownOutput: BlobId } | null>;
  /** The X25519 keys of the deployment's verifiers that have connected (what verifier tasks are sealed to). */
  verifierKeys(): Promise<string[]>;
  /** The requester's keyholder's X25519 key, once it has connected (what keyholder tasks are sealed to). */
  keyholderKey(requester: Address): Promise<string>;
}
