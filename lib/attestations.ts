/**
 * The signed statements participants make about an assignment (DESIGN §6): a node's result, a
 * node's decline, a verifier's verdict. Each is EIP-712 typed data under the EmethCore domain and
 * names the exact assignment — Job, SubJob, attempt, node, and the digests of what went in and came
 * out — so a statement made for one assignment is worthless for any other. The L2 and the verifier
 * rebuild the statement from the assignment the workflow made, never from what the signer wrote.
 *
 * Not imported by workflows (ethers is not workflow-safe); activities sign and check.
 */
import {
  AbiCoder,
  keccak256,
  toUtf8Bytes,
  verifyTypedData,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';
import type { NodeResult, NodeTask } from './pipeline';
import type { TypedDataSigner } from './tickets';
import type { BlobId } from './types';

const RESULT_TYPES: Record<string, TypedDataField[]> = {
  Result: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'subJobId', type: 'bytes32' },
    { name: 'attempt', type: 'uint32' },
    { name: 'node', type: 'address' },
    { name: 'inputDigest', type: 'bytes32' },
    { name: 'outputDigest', type: 'bytes32' },
    { name: 'fuelUsed', type: 'uint256' },
  ],
};

const DECLINE_TYPES: Record<string, TypedDataField[]> = {
  Decline: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'subJobId', type: 'bytes32' },
    { name: 'attempt', type: 'uint32' },
    { name: 'node', type: 'address' },
    { name: 'inputDigest', type: 'bytes32' },
  ],
};

const VERDICT_TYPES: Record<string, TypedDataField[]> = {
  Verdict: [
    { name: 'subJobId', type: 'bytes32' },
    { name: 'attempt', type: 'uint32' },
    { name: 'node', type: 'address' },
    { name: 'outputDigest', type: 'bytes32' },
    { name: 'verifier', type: 'address' },
    { name: 'valid', type: 'bool' },
    { name: 'fuelUsed', type: 'uint256' },
    { name: 'rowsChecked', type: 'uint32' },
  ],
};

/** What the node was handed, as one digest: shard, model, run parameters, fuel limit, program. */
export function inputDigestOf(
  task: Pick<NodeTask, 'programId' | 'shard' | 'modelBlobId' | 'params' | 'fuelLimit'>,
): string {
  const params = task.params
    ? JSON.stringify(Object.fromEntries(Object.entries(task.params).sort(([a], [b]) => a.localeCompare(b))))
    : '';
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['uint256', 'bytes32', 'bytes32', 'bytes32', 'uint256'],
      [
        task.programId,
        blobDigest(task.shard.blobId),
        task.modelBlobId ? blobDigest(task.modelBlobId) : '0x' + '00'.repeat(32),
        keccak256(toUtf8Bytes(params)),
        BigInt(task.fuelLimit),
      ],
    ),
  );
}

/**
 * A replica's commitment to its result (replication, phase 1): keccak256 over the node's signed
 * result statement and a 32-byte secret salt. It binds the node to one output and fuel figure
 * before it can see its twin's, and reveals nothing of them until the salt is shown.
 */
export function replicaCommitment(
  r: {
    subJobId: string;
    attempt: number;
    nodeId: string;
    output: BlobId;
    fuelUsed: string;
    signature: string;
  },
  salt: string,
): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['string', 'uint256', 'address', 'bytes32', 'uint256', 'bytes', 'bytes32'],
      [r.subJobId, r.attempt, r.nodeId, blobDigest(r.output), BigInt(r.fuelUsed), r.signature, salt],
    ),
  );
}

/** A content id (sha-256 hex) as the bytes32 the statements carry. */
export const blobDigest = (id: BlobId): string => `0x${id}`;

/**
 * What an L1 node `submit`s on EmethCore as its resultDigest: the hash of its signed result, so the
 * chain entry names exactly one signed (task, node, output, fuel) statement and no other result can
 * be passed off under it.
 */
export const l1ResultDigest = (resultSignature: string): string => keccak256(resultSignature);

/**
 * What an L1 node `submit`s (with fuelUsed 0) when the program fails on its input: a report of
 * exactly this attempt by this node. The verifier's re-run then decides: the same failure there
 * (the requester's input) is `verify`d on chain, paying the node nothing and refunding the fuel;
 * a clean re-run (the node's fault) is `reject`ed and fined.
 */
export const l1FailureDigest = (task: Pick<NodeTask, 'subJobId' | 'attempt'>, node: string): string =>
  keccak256(toUtf8Bytes(`emeth:program-failure:${task.subJobId}:${task.attempt}:${node.toLowerCase()}`));

export interface ResultClaim {
  jobId: string;
  subJobId: string;
  attempt: number;
  node: string;
  inputDigest: string;
  outputDigest: string;
  fuelUsed: string;
}

/** The result statement for an assignment and what the node says it produced. */
export function resultClaimOf(task: NodeTask, node: string, output: BlobId, fuelUsed: string): ResultClaim {
  return {
    jobId: task.jobId,
    subJobId: task.subJobId,
    attempt: task.attempt,
    node: node.toLowerCase(),
    inputDigest: inputDigestOf(task),
    outputDigest: blobDigest(output),
    fuelUsed,
  };
}

export function signResult(
  signer: TypedDataSigner,
  domain: TypedDataDomain,
  c: ResultClaim,
): Promise<string> {
  return signer.signTypedData(domain, RESULT_TYPES, { ...c });
}

/** The address that signed `c`, or undefined when the signature is malformed. */
export function resultSigner(domain: TypedDataDomain, c: ResultClaim, signature: string): string | undefined {
  return recover(domain, RESULT_TYPES, { ...c }, signature);
}

export interface DeclineClaim {
  jobId: string;
  subJobId: string;
  attempt: number;
  node: string;
  inputDigest: string;
}

export function declineClaimOf(task: NodeTask, node: string): DeclineClaim {
  return {
    jobId: task.jobId,
    subJobId: task.subJobId,
    attempt: task.attempt,
    node: node.toLowerCase(),
    inputDigest: inputDigestOf(task),
  };
}

export function signDecline(
  signer: TypedDataSigner,
  domain: TypedDataDomain,
  c: DeclineClaim,
): Promise<string> {
  return signer.signTypedData(domain, DECLINE_TYPES, { ...c });
}

export function declineSigner(
  domain: TypedDataDomain,
  c: DeclineClaim,
  signature: string,
): string | undefined {
  return recover(domain, DECLINE_TYPES, { ...c }, signature);
}

export interface VerdictClaim {
  subJobId: string;
  attempt: number;
  node: string;
  outputDigest: string;
  verifier: string;
  valid: boolean;
  fuelUsed: string;
  rowsChecked: number;
}

export function signVerdict(
  signer: TypedDataSigner,
  domain: TypedDataDomain,
  c: VerdictClaim,
): Promise<string> {
  return signer.signTypedData(domain, VERDICT_TYPES, { ...c });
}

export function verdictSigner(
  domain: TypedDataDomain,
  c: VerdictClaim,
  signature: string,
): string | undefined {
  return recover(domain, VERDICT_TYPES, { ...c }, signature);
}

function recover(
  domain: TypedDataDomain,
  types: Record<string, TypedDataField[]>,
  value: Record<string, unknown>,
  signature: string,
): string | undefined {
  try {
    return verifyTypedData(domain, types, value, signature).toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Why `result` is not the assigned node's signed answer to exactly `task`, or undefined when it is.
 * Each field the node wrote is compared with the assignment, then the signature with a statement
 * rebuilt from the assignment: a sibling SubJob's id, another attempt, another node's key or an
 * altered output all fail here.
 */
export function resultBindingProblem(
  domain: TypedDataDomain,
  task: NodeTask,
  nodeId: string,
  result: Pick<
    NodeResult,
    'jobId' | 'subJobId' | 'attempt' | 'nodeId' | 'inputDigest' | 'output' | 'fuelUsed' | 'signature'
  >,
): string | undefined {
  const node = nodeId.toLowerCase();
  const expected: [string, unknown, unknown][] = [
    ['jobId', result.jobId, task.jobId],
    ['subJobId', result.subJobId, task.subJobId],
    ['attempt', result.attempt, task.attempt],
    ['node', result.nodeId?.toLowerCase(), node],
    ['inputDigest', result.inputDigest, inputDigestOf(task)],
  ];
  for (const [field, got, want] of expected) {
    if (got !== want) return `the result names ${field} ${String(got)} but the assignment is ${String(want)}`;
  }
  if (!/^[0-9a-f]{64}$/.test(result.output)) return `the result's output ${result.output} is not a blob id`;
  if (!/^\d+$/.test(result.fuelUsed))
    return `the result's fuelUsed ${result.fuelUsed} is not a decimal integer`;
  const signer = resultSigner(
    domain,
    resultClaimOf(task, node, result.output, result.fuelUsed),
    result.signature,
  );
  if (signer !== node) {
    return `the result is signed by ${signer ?? 'nobody (malformed signature)'}, not by the assigned node ${node}`;
  }
  return undefined;
}
