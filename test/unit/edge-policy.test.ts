import { authorize, type EdgePolicyState, type EdgeRequest } from '../../lib/edge-policy';
import type { EdgeRole, EdgeTokenClaims } from '../../lib/edge-token';
import { taskQueues } from '../../lib/task-queues';

const A = '0x' + 'a'.repeat(40);
const B = '0x' + 'b'.repeat(40);
const queues = taskQueues('emeth');
const tokenOfA = new Uint8Array([1, 2, 3]);
const tokenOfB = new Uint8Array([4, 5, 6]);
const state: EdgePolicyState = {
  namespace: 'default',
  queues,
  taskTokenHolder: (t) =>
    Buffer.from(t).equals(Buffer.from(tokenOfA))
      ? A
      : Buffer.from(t).equals(Buffer.from(tokenOfB))
        ? B
        : undefined,
};

function who(role: EdgeRole, address = A): EdgeTokenClaims {
  return { role, address, chainId: 31337, endpoint: 'e:1', issuedAt: 0, expiresAt: 600 };
}
const poll = (name: string): EdgeRequest => ({ namespace: 'default', taskQueue: { name } });
const allowed = (claims: EdgeTokenClaims, api: string, request: EdgeRequest) =>
  authorize(claims, api, request, state).allow;

describe('node edge policy', () => {
  it.each<[EdgeRole, string]>([
    ['node', `emeth-node-${A}`],
    ['verifier', 'emeth-verifier'],
    ['keyholder', `emeth-keyholder-${A}`],
  ])('lets a %s poll only its own queue %s', (role, own) => {
    expect(allowed(who(role), 'PollActivityTaskQueue', poll(own))).toBe(true);
    for (const other of [
      `emeth-node-${B}`,
      'emeth-verifier',
      `emeth-keyholder-${B}`,
      `emeth-keyholder-${A}`,
      `emeth-node-${A}`,
      'emeth-l2',
      'emeth-gpu-cpu',
      '',
    ].filter((q) => q !== own)) {
      const decision = authorize(who(role), 'PollActivityTaskQueue', poll(other), state);
      expect(decision).toMatchObject({
        allow: false,
        message: expect.stringContaining(`a ${role} (${A}) may not poll`),
      });
    }
  });

  it("lets a verifier poll its own audit queue too, never another verifier's", () => {
    expect(allowed(who('verifier'), 'PollActivityTaskQueue', poll(`emeth-verifier-${A}`))).toBe(true);
    expect(allowed(who('verifier'), 'PollActivityTaskQueue', poll(`emeth-verifier-${B}`))).toBe(false);
    expect(allowed(who('node'), 'PollActivityTaskQueue', poll(`emeth-verifier-${A}`))).toBe(false);
  });

  it('refuses a poll of its own queue in another namespace', () => {
    expect(
      allowed(who('node'), 'PollActivityTaskQueue', {
        namespace: 'other',
        taskQueue: { name: `emeth-node-${A}` },
      }),
    ).toBe(false);
  });

  it('matches a mixed-case address to its lowercase queue', () => {
    const mixed = '0x' + 'Ab'.repeat(20);
    expect(
      allowed(who('node', mixed), 'PollActivityTaskQueue', poll(`emeth-node-${mixed.toLowerCase()}`)),
    ).toBe(true);
  });

  it.each([
    'RecordActivityTaskHeartbeat',
    'RespondActivityTaskCompleted',
    'RespondActivityTaskFailed',
    'RespondActivityTaskCanceled',
  ])('lets %s through only with a task token handed to the caller', (api) => {
    expect(allowed(who('node'), api, { namespace: 'default', taskToken: tokenOfA })).toBe(true);
    expect(allowed(who('node'), api, { namespace: 'default', taskToken: tokenOfB })).toBe(false);
    expect(allowed(who('node'), api, { namespace: 'default', taskToken: new Uint8Array([9]) })).toBe(false);
    expect(allowed(who('node'), api, { namespace: 'default' })).toBe(false);
    expect(allowed(who('node', B), api, { namespace: 'default', taskToken: tokenOfA })).toBe(false);
  });

  it.each([
    'RecordActivityTaskHeartbeatById',
    'RespondActivityTaskCompletedById',
    'RespondActivityTaskFailedById',
    'RespondActivityTaskCanceledById',
    'SignalWorkflowExecution',
    'SignalWithStartWorkflowExecution',
    'StartWorkflowExecution',
    'ExecuteMultiOperation',
    'QueryWorkflow',
    'ListWorkflowExecutions',
    'ScanWorkflowExecutions',
    'CountWorkflowExecutions',
    'DescribeWorkflowExecution',
    'GetWorkflowExecutionHistory',
    'GetWorkflowExecutionHistoryReverse',
    'PollWorkflowTaskQueue',
    'RespondWorkflowTaskCompleted',
    'RequestCancelWorkflowExecution',
    'TerminateWorkflowExecution',
    'CreateSchedule',
    'ListSchedules',
    'DescribeTaskQueue',
    'ListNamespaces',
    'UpdateNamespace',
    'PollNexusTaskQueue',
    'UpdateWorkflowExecution',
    'PauseActivity',
    'ResetActivity',
    'UpdateActivityOptions',
    'RecordWorkerHeartbeat',
    'ListWorkers',
    'StartActivityExecution',
  ])('refuses %s to every role', (api) => {
    for (const role of ['node', 'verifier', 'keyholder'] as const) {
      const request = { namespace: 'default', taskQueue: { name: `emeth-node-${A}` }, taskToken: tokenOfA };
      const decision = authorize(who(role), api, request, state);
      expect(decision).toEqual({ allow: false, message: `a ${role} (${A}) may not call ${api}` });
    }
  });

  it('allows the connect calls only for the configured namespace', () => {
    expect(allowed(who('node'), 'GetSystemInfo', {})).toBe(true);
    expect(allowed(who('node'), 'DescribeNamespace', { namespace: 'default' })).toBe(true);
    expect(allowed(who('node'), 'DescribeNamespace', { namespace: 'other' })).toBe(false);
    expect(allowed(who('node'), 'DescribeNamespace', { namespace: 'default', id: 'some-uuid' })).toBe(false);
  });

  it('allows ShutdownWorker without a sticky queue, in its namespace', () => {
    expect(allowed(who('verifier'), 'ShutdownWorker', { namespace: 'default' })).toBe(true);
    expect(
      allowed(who('verifier'), 'ShutdownWorker', { namespace: 'default', stickyTaskQueue: 'l2-sticky' }),
    ).toBe(false);
    expect(allowed(who('verifier'), 'ShutdownWorker', { namespace: 'other' })).toBe(false);
  });

  it('refuses a method it does not know', () => {
    expect(allowed(who('node'), 'SomeFutureMethod', { namespace: 'default' })).toBe(false);
  });
});
