/** Task queue names. Nodes, verifiers and keyholders reach the system only through these. */
export const TASK_QUEUES = {
  l2: 'emeth-l2',
  verifier: 'emeth-verifier',
  gpuClass: (cls: string) => `emeth-gpu-${cls}`,
  node: (nodeId: string) => `emeth-node-${nodeId}`,
  keyholder: (requester: string) => `emeth-keyholder-${requester.toLowerCase()}`,
} as const;
