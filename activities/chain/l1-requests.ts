/**
 * The requester's EIP-712 `Request` for an L1 Job: "open Job `jobId` for me, escrowing its
 * feeLimit + verifierFee from my deposit on EmethCore". The requester signs it at submit; the
 * gateway checks it and the L2 relays it (`EmethL1.requestFor`) without ever holding the key.
 * Same domain as Commits and tickets (`emethDomain`).
 */
import { TypedDataEncoder, id, verifyTypedData, type TypedDataDomain, type TypedDataField } from 'ethers';
import type { TypedDataSigner } from '../../lib/tickets';

export interface L1Request {
  requester: string;
  /** bytes32: the Job's id, on chain and in the L2's database alike. */
  jobId: string;
  programId: number;
  fuelLimit: bigint;
  /** Holon per unit of fuel. */
  fuelPrice: bigint;
  /** Unix seconds: the Job's deadline on chain (and the last moment the Request can be relayed). */
  deadline: bigint;
  /** bytes32 content id of the dataset (`datasetId32` of its blob id). */
  dataset: string;
}

export const REQUEST_TYPES: Record<string, TypedDataField[]> = {
  Request: [
    { name: 'requester', type: 'address' },
    { name: 'jobId', type: 'bytes32' },
    { name: 'programId', type: 'uint256' },
    { name: 'fuelLimit', type: 'uint256' },
    { name: 'fuelPrice', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
    { name: 'dataset', type: 'bytes32' },
  ],
};

const asRecord = (r: L1Request) => r as unknown as Record<string, unknown>;

/** The bytes32 a dataset's blob id is known by on chain (emitted in `JobRequested`). */
export const datasetId32 = (blobId: string): string => id(blobId);

export function signL1Request(
  signer: TypedDataSigner,
  domain: TypedDataDomain,
  request: L1Request,
): Promise<string> {
  return signer.signTypedData(domain, REQUEST_TYPES, asRecord(request));
}

export function recoverL1RequestSigner(
  domain: TypedDataDomain,
  request: L1Request,
  signature: string,
): string {
  return verifyTypedData(domain, REQUEST_TYPES, asRecord(request), signature);
}

/** The EIP-712 digest EmethL1.requestFor checks the signature against. */
export function l1RequestDigest(domain: TypedDataDomain, request: L1Request): string {
  return TypedDataEncoder.hash(domain, REQUEST_TYPES, asRecord(request));
}
