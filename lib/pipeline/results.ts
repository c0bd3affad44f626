import type { Address, BlobId } from '../types';
import type { Verdict } from './verification';

export interface NodeResult {
  subJobId: string;
  nodeId: Address;
  output: BlobId;
  fuelUsed: string;
  /** EIP-191 signature by the node over `nodeResultMessage(...)`. */
  signature: string;
  /** Which onnxruntime execution provider ran it. */
  executionProvider: string;
}

/** Results on `emeth-l2`: a node's signed result, checked and recorded with its verdict. */
export interface ResultsActivities {
  acceptResult(input: { result: NodeResult; verdict: Verdict; attempt: number }): Promise<void>;
}

/** The node's signed statement: binds the output and fuel to the SubJob and the attempt. */
export function nodeResultMessage(
  r: Pick<NodeResult, 'subJobId' | 'output' | 'fuelUsed'>,
  attempt: number,
): string {
  return ['EMETH-RESULT-V1', r.subJobId, String(attempt), r.output, r.fuelUsed].join('\n');
}
