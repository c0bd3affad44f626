/**
 * The requester's EIP-712 `Commit` authorization: "the L2 may commit `amount` of my deposit to Job
 * `jobId` until `deadline`". The requester signs it (at submit); the L2 server sends it with
 * `EmethCoreClient.commit`. Same domain as tickets and batches (`emethDomain`).
 */
import { TypedDataEncoder, verifyTypedData, type TypedDataDomain, type TypedDataField } from 'ethers';
import type { TypedDataSigner } from '../../lib/tickets';

export interface Commit {
  requester: string;
  /** bytes32: the Job's id as the chain knows it (jobIdBytes32 of the L2 Job id). */
  jobId: string;
  /** Holon the Job may spend in all: its feeLimit + verifierFee. */
  amount: bigint;
  /** Unix seconds: the L2 must commit by then, and nodes must redeem the Job's tickets by then. */
  deadline: bigint;
}

export const COMMIT_TYPES: Record<string, TypedDataField[]> = {
  Commit: [
    { name: 'requester', type: 'address' },
    { name: 'jobId', type: 'bytes32' },
    { name: 'amount', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
};

const asRecord = (c: Commit) => c as unknown as Record<string, unknown>;

export function signCommit(
  signer: TypedDataSigner,
  domain: TypedDataDomain,
  commit: Commit,
): Promise<string> {
  return signer.signTypedData(domain, COMMIT_TYPES, asRecord(commit));
}

export function recoverCommitSigner(domain: TypedDataDomain, commit: Commit, signature: string): string {
  return verifyTypedData(domain, COMMIT_TYPES, asRecord(commit), signature);
}

/** The EIP-712 digest EmethCore checks the signature against. */
export function commitDigest(domain: TypedDataDomain, commit: Commit): string {
  return TypedDataEncoder.hash(domain, COMMIT_TYPES, asRecord(commit));
}
