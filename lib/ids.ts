import { randomBytes } from 'node:crypto';
import { AbiCoder, keccak256 } from 'ethers';

/** A fresh Job id: bytes32, the form tickets carry on chain. */
export function newJobId(): string {
  return '0x' + randomBytes(32).toString('hex');
}

/** A SubJob's id is derived, so a retried split creates the same rows. */
export function subJobIdOf(jobId: string, epoch: number, index: number): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(['bytes32', 'uint256', 'uint256'], [jobId, epoch, index]),
  );
}

export const jobWorkflowId = (jobId: string) => `job-${jobId}`;
export const attemptId = (subJobId: string, attempt: number) => `${subJobId}:${attempt}`;
