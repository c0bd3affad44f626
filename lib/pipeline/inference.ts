/**
 * The inference service's activity contracts (paper 5-1), declared apart from their factories so
 * the deployment workflow can name them without importing activity code.
 */
import type { DeploymentStatus, ReplicaSpec } from '../inference';

/** What the deployment workflow needs from the L2's configuration (one activity reads it). */
export interface InferenceSettings {
  nodeQueuePrefix: string;
  verifierQueue: string;
  /** Milliseconds per metered window: tickets, canaries, checks and replica health once per window. */
  windowMs: number;
  /** Requests per replica per second above which one more replica is placed (up to the maximum). */
  scaleUpRps: number;
  /** Idle windows after which one replica is retired (down to the minimum). */
  idleWindowsToScaleDown: number;
}

export interface PlacedReplica {
  replicaId: string;
  nodeId: string;
  /** The node's X25519 key: the replica spec is sealed to it. */
  nodeKey: string;
  spec: ReplicaSpec;
}

export interface WindowClosed {
  window: number;
  /** The deployment's model blob (what a verifier re-runs samples on). */
  model: string;
  /** Requests answered in the window (canaries left out). */
  requests: number;
  billed: string;
  /** Sampled requests and canaries waiting for a verifier's re-run. */
  samples: { requestId: string; nodeId: string; blob: string }[];
}

export interface InferenceVerdict {
  requestId: string;
  valid: boolean;
  reason?: string;
}

export interface InferenceActivities {
  reserveDeployment(input: { deploymentId: string }): Promise<{ budget: string }>;
  setDeploymentStatus(input: {
    deploymentId: string;
    status: DeploymentStatus;
    reason?: string;
  }): Promise<void>;
  /** The replicas to place so that `want` serve: new rows in 'loading', on eligible warm nodes. */
  placeReplicas(input: { deploymentId: string; want: number }): Promise<PlacedReplica[]>;
  replicaLoaded(input: { replicaId: string; ok: boolean; reason?: string }): Promise<void>;
  /** Serving replicas whose node's stream is gone, marked failed; returns what still serves. */
  checkReplicas(input: { deploymentId: string }): Promise<{ serving: string[]; lost: string[] }>;
  /**
   * Marks `count` serving replicas (newest first), or all, stopped; returns their nodes with the keys
   * their unload must be sealed to (a node refuses an unsealed payload).
   */
  retireReplicas(input: {
    deploymentId: string;
    count?: number;
    all?: boolean;
  }): Promise<{ nodeId: string; nodeKey: string | null }[]>;
  /** One canary request per serving replica, recorded as a sample (never billed). */
  sendCanaries(input: { deploymentId: string; window: number }): Promise<number>;
  /** Tickets for the window's answered, unsampled-or-verified requests; lists samples to check. */
  closeWindow(input: { deploymentId: string; window: number }): Promise<WindowClosed>;
  /** A verifier's verdicts: a lie is unpaid, its node fined and its replica failed. */
  recordInferenceVerdicts(input: {
    deploymentId: string;
    verifier: string;
    verdicts: InferenceVerdict[];
  }): Promise<{ lies: string[] }>;
  inferenceSettings(): Promise<InferenceSettings>;
  settleDeployment(input: { deploymentId: string; status: DeploymentStatus; reason?: string }): Promise<{
    charged: string;
    refunded: string;
  }>;
}

export interface InferenceNodeActivities {
  /** Loads the deployment's model into a warm session (once; a retry finds it loaded). */
  loadReplica(spec: ReplicaSpec): Promise<{ provider: string; inputs: string[]; outputs: string[] }>;
  /** Releases the deployment's session. */
  unloadReplica(input: { deploymentId: string }): Promise<void>;
}

export interface InferenceCheckTask {
  deploymentId: string;
  /** The model's blob id. */
  model: string;
  samples: { requestId: string; nodeId: string; blob: string }[];
}

export interface InferenceVerifierActivities {
  checkInference(task: InferenceCheckTask): Promise<{ verifier: string; verdicts: InferenceVerdict[] }>;
}
