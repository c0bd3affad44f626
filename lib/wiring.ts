/**
 * The wiring check: one workflow that proves Temporal, the database and the chain are connected.
 * Types only, shared by the workflow (which must not import activity code) and the activities.
 */
export interface ChainSnapshot {
  chainId: number;
  blockNumber: number;
  tokenAddress: string;
  /** Total token supply in holon, as a decimal string (bigint does not cross Temporal's JSON). */
  tokenSupply: string;
}

export interface WiringResult extends ChainSnapshot {
  checkId: string;
  recordedAt: string;
}

export interface WiringActivities {
  readChain(): Promise<ChainSnapshot>;
  /** Idempotent: a retry with the same checkId returns the row written by the first attempt. */
  recordWiringCheck(checkId: string, snapshot: ChainSnapshot): Promise<WiringResult>;
}

export const WIRING_WORKFLOW = 'wiringWorkflow';
