import type { Address, BlobId } from '../types';
import type { ShardRef } from '../programs';
import type { NodeResult } from './results';

/** How one attempt's result is checked, decided by the program's policy after the result arrived. */
export interface CheckPlan {
  /** Share of the SubJob the verifier re-executes (0..1); 1 re-executes every row. */
  sampleRate: number;
  /** Seeds the verifier's sample; drawn by the L2 from a CSPRNG after the node answered. */
  seed: string;
  /**
   * The result is encrypted to the requester (fedavg-train): true when this attempt's update is
   * opened by the keyholder and compared value by value; false leaves the verifier a shape check.
   */
  openWithKeyholder: boolean;
}

export interface VerifyTask {
  jobId: string;
  subJobId: string;
  programId: number;
  shard: ShardRef;
  modelBlobId: BlobId;
  params?: Record<string, string>;
  /** Training: the node's update as the requester's keyholder decrypted it (a checked SubJob). */
  plainUpdate?: number[];
  attempt: number;
  result: NodeResult;
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

/** Verification on `emeth-l2`: which attempts are checked and how, per the program's policy. */
export interface VerificationActivities {
  planCheck(input: { subJobId: string; attempt: number; nodeId: Address }): Promise<CheckPlan>;
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
