/**
 * Chain-facing types shared by the CLI, workers and tests. Pure types: importing this file loads
 * no ethers and has no side effects.
 */

/** Where EMETH's contracts live on a chain; `emeth up` writes it to `.emeth/deployment.json`. */
export interface Deployment {
  chainId: number;
  /** Address that deployed the contracts (and holds the admin role unless told otherwise). */
  deployer: string;
  /** EmethToken address. */
  token: string;
  /** EmethCore address. */
  core: string;
  /**
   * EmethMining address (the GPU Mining Program). Absent in deployment files written before the
   * program existed: the L2 then posts no epochs and GET /v1/nodes/:address/rewards says so.
   */
  mining?: string;
  /** Block of the deployment: the EMETH Cache starts following events here. */
  blockNumber: number;
  /** ISO-8601 time of the deployment. */
  deployedAt: string;
}

/** EmethCore.JobStatus, in the contract's order. */
export enum JobStatus {
  None = 0,
  Requested = 1,
  Split = 2,
  Finished = 3,
  Cancelled = 4,
}

/** EmethCore.SubJobStatus, in the contract's order. */
export enum SubJobStatus {
  None = 0,
  Open = 1,
  Processing = 2,
  Submitted = 3,
  Verified = 4,
  Failed = 5,
}

/** EmethCore.Parameter, in the contract's order. */
export enum ChainParameter {
  VerifierFeeRate = 0,
  DepositRate = 1,
  DeclinePenaltyRate = 2,
  TimeoutPenaltyRate = 3,
  RejectPenaltyRate = 4,
  MaxRetries = 5,
  WithdrawalDelay = 6,
  UnstakeCooldown = 7,
  SignerInterval = 8,
  ProcessingTimeLimit = 9,
  MinNodeStake = 10,
  TimeoutGrace = 11,
  ProverShare = 12,
}

/** EmethCore.PenaltyReason. */
export enum PenaltyReason {
  Decline = 0,
  Timeout = 1,
  Reject = 2,
}

/** The demo programs `deployContracts` registers: ProgramId → sub-program of its SubJobs. */
export const DEMO_PROGRAMS = [
  { programId: 1, subProgramId: 11, name: 'onnx-inference' },
  { programId: 2, subProgramId: 21, name: 'fedavg-train' },
  { programId: 3, subProgramId: 31, name: 'encrypted-stats' },
] as const;
