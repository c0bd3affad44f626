/**
 * Task queue names. Nodes, verifiers and keyholders reach the system only through these. The
 * prefix (EMETH_TASK_QUEUE_PREFIX, default `emeth`) lets several EMETH deployments — or test
 * suites — share one Temporal namespace without taking each other's tasks.
 */
export interface TaskQueues {
  l2: string;
  verifier: string;
  /** One verifier's own queue: the audits and disputes the L2 addresses to that verifier. */
  verifierOf(address: string): string;
  /** Shared by all nodes of a capability class. */
  gpuClass(cls: string): string;
  /** One node's own queue. */
  node(nodeId: string): string;
  keyholder(requester: string): string;
}

export function taskQueues(prefix = 'emeth'): TaskQueues {
  return {
    l2: `${prefix}-l2`,
    verifier: `${prefix}-verifier`,
    verifierOf: (address) => `${prefix}-verifier-${address.toLowerCase()}`,
    gpuClass: (cls) => `${prefix}-gpu-${cls}`,
    node: (nodeId) => `${prefix}-node-${nodeId.toLowerCase()}`,
    keyholder: (requester) => `${prefix}-keyholder-${requester.toLowerCase()}`,
  };
}

export const TASK_QUEUES: TaskQueues = taskQueues();
