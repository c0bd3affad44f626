/**
 * The settlement layer a Job runs on (paper 7-2 and 7-3), as the workflows see it. Both layers run
 * the same Job and SubJob workflows; only these steps differ:
 *
 * | step               | L2 (default)                         | L1                                           |
 * |--------------------|--------------------------------------|----------------------------------------------|
 * | reserve            | the requester's Commit, committed    | the requester's Request, relayed (requestFor) |
 * | after the split    | —                                    | the L1 server registers the SubJobs           |
 * | a node's attempt   | a stake lock per attempt             | the node's own `process`, then `submit`       |
 * | a verified result  | tickets, batched by the Signer       | the verifier's `verify` pays on chain         |
 * | a failed attempt   | the L2 fines from stake              | the verifier's `reject` or `timeout`          |
 * | settlement         | tickets charged, the rest released   | what is left open on chain is timed out       |
 */
import type { Address } from '../types';
import type { NodeTask } from './dispatcher';
import type { NodeResult } from './results';

export type Layer = 'l1' | 'l2';

/** EmethL1's SubJob states, by name. */
export type L1SubJobStatus = 'none' | 'open' | 'processing' | 'submitted' | 'verified' | 'failed';

/** One SubJob as EmethCore's L1 market holds it. */
export interface L1SubJobState {
  status: L1SubJobStatus;
  /** The node that processes (or processed) it, lower case; null while open. */
  node: Address | null;
  /** Chain attempts so far (EmethL1 `retries`): the penalty actions name the one they judge. */
  retries: number;
  /** Unix seconds: its processing deadline while processing; the Job's deadline while open. */
  due: number;
}

/** What a verifier does on chain to an L1 SubJob, with its own key (VERIFIER_ROLE). */
export interface L1ActionInput {
  jobId: string;
  index: number;
  action: 'verify' | 'reject' | 'timeout';
  /** The SubJob's chain `retries` when the decision was taken (ignored by verify). */
  attempt: number;
  /**
   * verify and reject: what the chain must hold for the judged result (the verifier checks before it
   * sends): its node, its resultDigest (lib/attestations l1ResultDigest) and its fuel.
   */
  expect?: { node: Address; resultDigest: string; fuelUsed: string };
}

export interface L1ActionResult {
  /** Nothing sent: the effect was already on chain. */
  alreadyDone: boolean;
  txHash?: string;
}

/** One EmethCore event of an L1 Job, as the workflow history shows it. */
export interface ChainStepSeen {
  event: string;
  subJobIndex: number | null;
  actor: string | null;
  txHash: string;
  blockNumber: number;
}

/** The L1 layer's own activities on `emeth-l2` (no-ops, or refusals, for L2 Jobs). */
export interface LayerActivities {
  /**
   * L1: the SubJobs registered on EmethCore in shares of their fuel limits (the L1 server's role);
   * returns how long a node has on chain between `process` and `submit` (ms). L2: null.
   */
  openSubJobsOnLayer(jobId: string): Promise<{ processingMs: number } | null>;
  /** L1: how SubJob `index` stands on chain. */
  l1SubJobState(input: { jobId: string; index: number }): Promise<L1SubJobState>;
  /**
   * L1: the Job's chain events read back from EmethCore's logs into its view; returns the new ones
   * (so each step's transaction also shows in the workflow's history, in the Temporal UI).
   */
  recordChainSteps(jobId: string): Promise<ChainStepSeen[]>;
  /**
   * L1: whether the chain holds exactly this signed result as the SubJob's submission — submitted by
   * the assigned node, with the digest of its signature and its fuel. A node that ran the task but
   * submitted something else (or nothing) on chain gave no answer.
   */
  checkL1Submission(input: {
    task: NodeTask;
    nodeId: Address;
    result: NodeResult;
  }): Promise<
    | { bound: true; expect: { node: Address; resultDigest: string; fuelUsed: string } }
    | { bound: false; reason: string }
  >;
  /**
   * L1: whether the chain holds the assigned node's report that the program failed on this attempt
   * (lib/attestations l1FailureDigest, fuel 0), with what a verifier's `verify` must then find.
   */
  l1FailureReport(input: {
    task: NodeTask;
    nodeId: Address;
  }): Promise<
    | { reported: true; expect: { node: Address; resultDigest: string; fuelUsed: string } }
    | { reported: false; reason: string }
  >;
  /**
   * L1: the SubJobs not closed on chain yet, each with the first moment (unix seconds) a verifier
   * may time it out: its processing deadline; the Job's deadline while open; the deadline plus
   * EmethCore's timeoutGrace once submitted and never judged.
   */
  openOnChain(jobId: string): Promise<{ index: number; state: L1SubJobState; timeoutAt: number }[]>;
}
