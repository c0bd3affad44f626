import type { EdgeRole, EdgeTokenClaims } from './edge-token';
import type { TaskQueues } from './task-queues';

/**
 * What the node edge lets a participant do (DESIGN §6: a task queue is not a lock). A participant
 * may poll its own activity task queue and answer the tasks the edge handed to it on that queue;
 * nothing else of the WorkflowService: no workflow tasks, signals, queries, starts, lists,
 * describes, history reads, schedules, `*ById` answers (they name a workflow, not a task the
 * participant holds), deployments or Nexus. Pure: the caller supplies who holds which task token.
 */

/** The fields of the WorkflowService requests the rules read (decoded with @temporalio/proto). */
export interface EdgeRequest {
  namespace?: string | null;
  id?: string | null;
  taskQueue?: { name?: string | null } | null;
  taskToken?: Uint8Array | null;
  stickyTaskQueue?: string | null;
}

export interface EdgePolicyState {
  /** The one namespace participants work in. */
  namespace: string;
  queues: TaskQueues;
  /** The address (lowercase) the edge handed `taskToken` to in a poll response, if it still remembers. */
  taskTokenHolder(taskToken: Uint8Array): string | undefined;
}

export type EdgeDecision = { allow: true } | { allow: false; message: string };

/** Calls the SDK makes when it connects and creates a worker. */
const CONNECT_CALLS = new Set(['GetSystemInfo', 'DescribeNamespace']);
/** Answers to an activity task, each naming the task by the token it came with. */
const TASK_ANSWERS = new Set([
  'RecordActivityTaskHeartbeat',
  'RespondActivityTaskCompleted',
  'RespondActivityTaskFailed',
  'RespondActivityTaskCanceled',
]);

/** The activity task queues a participant may poll. */
export function ownQueues(claims: Pick<EdgeTokenClaims, 'role' | 'address'>, queues: TaskQueues): string[] {
  const byRole: Record<EdgeRole, () => string[]> = {
    node: () => [queues.node(claims.address)],
    // The shared queue of first verdicts, and its own, where the L2 sends it audits and disputes.
    verifier: () => [queues.verifier, queues.verifierOf(claims.address)],
    keyholder: () => [queues.keyholder(claims.address)],
  };
  return byRole[claims.role]();
}

function refuse(claims: EdgeTokenClaims, what: string): EdgeDecision {
  return { allow: false, message: `a ${claims.role} (${claims.address}) may not ${what}` };
}

export function authorize(
  claims: EdgeTokenClaims,
  apiName: string,
  request: EdgeRequest,
  state: EdgePolicyState,
): EdgeDecision {
  if (apiName === 'GetSystemInfo') return { allow: true };
  const namespace = request.namespace ?? '';
  if (namespace !== state.namespace)
    return refuse(claims, `call ${apiName} outside namespace ${state.namespace} (asked for "${namespace}")`);

  if (CONNECT_CALLS.has(apiName)) {
    // DescribeNamespace by id could name another namespace than the one checked above.
    if (request.id) return refuse(claims, 'describe a namespace by id');
    return { allow: true };
  }

  if (apiName === 'PollActivityTaskQueue') {
    const queue = request.taskQueue?.name ?? '';
    const own = ownQueues(claims, state.queues);
    if (!own.includes(queue))
      return refuse(claims, `poll ${queue || 'an unnamed queue'}, only ${own.join(', ')}`);
    return { allow: true };
  }

  if (TASK_ANSWERS.has(apiName)) {
    const token = request.taskToken;
    if (!token || token.length === 0) return refuse(claims, `call ${apiName} without a task token`);
    const holder = state.taskTokenHolder(token);
    if (holder !== claims.address.toLowerCase())
      return refuse(claims, `call ${apiName} on a task this edge did not hand to it`);
    return { allow: true };
  }

  if (apiName === 'ShutdownWorker') {
    // Participants run no workflows, so they own no sticky queue; naming one would unstick someone else's.
    if (request.stickyTaskQueue) return refuse(claims, 'shut down a sticky task queue');
    return { allow: true };
  }

  return refuse(claims, `call ${apiName}`);
}
