/**
 * GPU rental's activity contracts (paper 5-2), declared apart from their factories so the lease
 * workflow can name them without importing activity code.
 */

/** What the lease workflow needs from the L2's configuration (one activity reads it). */
export interface LeaseSettings {
  /** `taskQueues(prefix).node('')`: a node's own queue is this prefix and its address. */
  nodeQueuePrefix: string;
  /** How long a leased node has to answer a period's confirmation before it counts as gone. */
  confirmTimeoutMs: number;
}

/** A lease's nodes chosen and held: the periods run from `startsAt` (ms since the epoch). */
export interface LeaseStarted {
  nodes: string[];
  /** Each node's X25519 key: what the workflow seals its confirmations to (participants hold no codec key). */
  nodeKeys: Record<string, string>;
  startsAt: number;
  periods: number;
  periodSeconds: number;
}

export interface LeaseOutcome {
  status: 'ended' | 'failed';
  charged: string;
  refunded: string;
  reason?: string;
}

/** On `emeth-l2`. */
export interface LeaseActivities {
  leaseSettings(): Promise<LeaseSettings>;
  /** The lease's budget committed on EmethCore with the requester's Commit (once). */
  reserveLease(input: { leaseId: string }): Promise<{ budget: string }>;
  /**
   * Chooses and holds the lease's nodes (a retry finds the ones it chose): refused when fewer than
   * the lease asks for are free, online and staked enough to pay a timeout's penalty.
   */
  startLease(input: { leaseId: string }): Promise<LeaseStarted>;
  /**
   * A node did not confirm a period: 'busy' when it is running an attempt (its one slot is taken,
   * it is there), otherwise 'left': it leaves the lease, penalised as for a timeout, once.
   */
  leaseNodeMissed(input: {
    leaseId: string;
    nodeId: string;
    period: number;
    reason: string;
  }): Promise<'busy' | 'left'>;
  /** One ticket per present node for the period (once per node and period). */
  payLeasePeriod(input: { leaseId: string; period: number; nodes: string[] }): Promise<{ paid: string }>;
  /** Lowers the commitment to what the tickets charge, refunds the rest, releases the nodes. */
  settleLease(input: { leaseId: string; status: 'ended' | 'failed'; reason?: string }): Promise<LeaseOutcome>;
}

/** On the node's own queue: the node says it is there for the period (its queue proves who it is). */
export interface LeaseNodeActivities {
  confirmLease(input: { leaseId: string; period: number }): Promise<{ nodeId: string }>;
}
