/**
 * The node edge under attack, with real processes: the run's Temporal dev server, a real anvil
 * with EmethCore (registration is a real stake), the edge in front of the frontend, a real SDK
 * worker for an honest node A connected through the edge, and an attacker B — registered and
 * staked, holding valid tokens for its own address — making raw gRPC calls through the edge.
 * Every attack must be refused with the right gRPC status, the workflow A serves must finish with
 * A's answer, and nothing B tried may show in its history.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { temporal as proto } from '@temporalio/proto';
import { Wallet, type HDNodeWallet } from 'ethers';
import pino from 'pino';
import { edgeClaims, makeEdgeToken, type EdgeRole } from '../../lib/edge-token';
import { taskQueues } from '../../lib/task-queues';
import { chainRegistry } from '../../workers/edge/registry';
import { startNodeEdge, type NodeEdge } from '../../workers/edge/server';
import { connectThroughEdge, type ParticipantConnection } from '../../workers/shared/connect';
import { stakeOnChain, startTestChain, type TestChain } from '../support/chain';
import { connectTestTemporal, type TestTemporal } from '../support/temporal';
import { edgeEchoWorkflow } from './node-edge-workflows';

const NAMESPACE = 'default';
const CHAIN_ID = 31337;
const STAKE = 100n * 10n ** 18n;
// A prefix of its own: the suite's queues cannot collide with another suite's on the shared server.
const queues = taskQueues(`edge${randomUUID().slice(0, 8)}`);

const nodeA = Wallet.createRandom();
const attackerB = Wallet.createRandom();
const unregisteredC = Wallet.createRandom();
const verifierV = Wallet.createRandom();
const a = nodeA.address.toLowerCase();
const b = attackerB.address.toLowerCase();

const logLines: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

let temporal: TestTemporal;
let chain: TestChain;
let edge: NodeEdge;
let client: Client;
let operatorWorker: Worker;
let operatorRun: Promise<void>;
/** A long poll on B's own, empty queue, started first so its ~60 s run beside the other cases. */
let idlePoll: Promise<{ taskToken?: Uint8Array | null }>;
const rawConnections: Connection[] = [];

const nowS = () => Math.floor(Date.now() / 1000);

async function bearer(
  wallet: HDNodeWallet,
  role: EdgeRole,
  overrides: Partial<ReturnType<typeof edgeClaims>> = {},
): Promise<string> {
  const claims = { ...edgeClaims(role, wallet.address, CHAIN_ID, edge.endpoint, nowS()), ...overrides };
  return `Bearer ${await makeEdgeToken(wallet, claims)}`;
}

/** A raw WorkflowService client through the edge, sending `authorization` (or nothing). */
function rawClient(authorization?: string): Connection['workflowService'] {
  const connection = Connection.lazy({
    address: edge.address,
    metadata: authorization ? { authorization } : {},
  });
  rawConnections.push(connection);
  const service = connection.workflowService;
  // Long polls need a deadline (the frontend refuses one without); the SDK's is 70 s.
  return new Proxy(service, {
    get(target, name, receiver) {
      const method = Reflect.get(target, name, receiver) as unknown;
      if (typeof method !== 'function') return method;
      return (request: unknown) =>
        connection.withDeadline(Date.now() + 70_000, () =>
          (method as (r: unknown) => Promise<unknown>).call(target, request),
        );
    },
  });
}

async function codeOf(call: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

const pollOf = (name: string) => ({ namespace: NAMESPACE, taskQueue: { name }, identity: 'attacker' });
const payloads = (value: unknown) => ({ payloads: [defaultPayloadConverter.toPayload(value)] });

beforeAll(async () => {
  [temporal, chain] = await Promise.all([connectTestTemporal('edge-operator'), startTestChain()]);
  await stakeOnChain(chain, nodeA, STAKE);
  await stakeOnChain(chain, attackerB, STAKE);
  edge = await startNodeEdge({
    listen: '127.0.0.1:0',
    upstream: temporal.address,
    namespace: NAMESPACE,
    chainId: CHAIN_ID,
    taskQueuePrefix: queues.l2.replace(/-l2$/, ''),
    isRegistered: chainRegistry({
      core: chain.deployment.core,
      runner: chain.provider,
      verifiers: [verifierV.address],
    }),
    logger,
  });
  // The operator side: a client and a workflow worker straight on the frontend, default converter.
  client = new Client({ connection: temporal.client.connection, namespace: NAMESPACE });
  operatorWorker = await Worker.create({
    connection: temporal.nativeConnection,
    namespace: NAMESPACE,
    taskQueue: temporal.taskQueue,
    workflowsPath: require.resolve('./node-edge-workflows'),
  });
  operatorRun = operatorWorker.run();
  idlePoll = rawClient(await bearer(attackerB, 'node')).pollActivityTaskQueue(pollOf(queues.node(b)));
  idlePoll.catch(() => undefined);
});

afterAll(async () => {
  if (operatorWorker?.getState() === 'RUNNING') operatorWorker.shutdown();
  await operatorRun?.catch(() => undefined);
  await Promise.allSettled(rawConnections.map((c) => c.close()));
  await edge?.close();
  await Promise.allSettled([temporal?.close(), chain?.stop()]);
});

describe('the node edge, attacked', () => {
  it('refuses callers without a valid token of a registered participant', async () => {
    const call = (authorization?: string) => codeOf(rawClient(authorization).getSystemInfo({}));
    expect(await call(undefined)).toBe(status.UNAUTHENTICATED);
    expect(await call('Bearer not-a-token')).toBe(status.UNAUTHENTICATED);
    expect(await call(await bearer(nodeA, 'node', { issuedAt: nowS() - 700, expiresAt: nowS() - 100 }))).toBe(
      status.UNAUTHENTICATED,
    );
    expect(await call(await bearer(nodeA, 'node', { endpoint: 'elsewhere.example:7243' }))).toBe(
      status.UNAUTHENTICATED,
    );
    expect(await call(await bearer(nodeA, 'node', { chainId: 1 }))).toBe(status.UNAUTHENTICATED);
    // B signs a token claiming to be A.
    const forged = await makeEdgeToken(attackerB, edgeClaims('node', a, CHAIN_ID, edge.endpoint, nowS()));
    expect(await call(`Bearer ${forged}`)).toBe(status.UNAUTHENTICATED);
    expect(await call(await bearer(unregisteredC, 'node'))).toBe(status.PERMISSION_DENIED);
    // A registered node is not thereby a verifier.
    expect(await call(await bearer(attackerB, 'verifier'))).toBe(status.PERMISSION_DENIED);
    // Sanity: the same call with a good token passes, so the refusals above are the edge's.
    expect(await call(await bearer(nodeA, 'node'))).toBe('ok');
    expect(await call(await bearer(verifierV, 'verifier'))).toBe('ok');
  });

  it("refuses B everything but its own queue while A's task is open, and A's answer stands", async () => {
    const workflowId = `edge-raw-${randomUUID()}`;
    const handle = await client.workflow.start(edgeEchoWorkflow, {
      taskQueue: temporal.taskQueue,
      workflowId,
      args: [{ queue: queues.node(a), text: 'one' }],
    });
    const asA = rawClient(await bearer(nodeA, 'node'));
    const asB = rawClient(await bearer(attackerB, 'node'));

    // A legitimately takes its task: the edge records the token as handed to A.
    const task = await asA.pollActivityTaskQueue(pollOf(queues.node(a)));
    expect(task.taskToken?.length).toBeGreaterThan(0);
    expect(task.workflowExecution?.workflowId).toBe(workflowId);
    const taskToken = task.taskToken!;

    // Polls of queues that are not B's own.
    for (const queue of [
      queues.node(a),
      queues.verifier,
      queues.keyholder(a),
      queues.keyholder(b),
      queues.l2,
      queues.gpuClass('cpu'),
      temporal.taskQueue,
    ]) {
      expect([queue, await codeOf(asB.pollActivityTaskQueue(pollOf(queue)))]).toEqual([
        queue,
        status.PERMISSION_DENIED,
      ]);
    }
    expect(await codeOf(asB.pollWorkflowTaskQueue(pollOf(temporal.taskQueue)))).toBe(
      status.PERMISSION_DENIED,
    );

    // Answers to A's task, by token and by workflow id.
    const byToken = { namespace: NAMESPACE, taskToken, identity: 'attacker' };
    const byId = { namespace: NAMESPACE, workflowId, activityId: task.activityId, identity: 'attacker' };
    const failure = { message: 'attacker says no', applicationFailureInfo: { nonRetryable: true } };
    const answers: [string, Promise<unknown>][] = [
      ['heartbeat', asB.recordActivityTaskHeartbeat({ ...byToken, details: payloads('x') })],
      ['complete', asB.respondActivityTaskCompleted({ ...byToken, result: payloads('from B') })],
      ['fail', asB.respondActivityTaskFailed({ ...byToken, failure })],
      ['cancel', asB.respondActivityTaskCanceled({ ...byToken })],
      ['heartbeat by id', asB.recordActivityTaskHeartbeatById({ ...byId })],
      ['complete by id', asB.respondActivityTaskCompletedById({ ...byId, result: payloads('from B') })],
      ['fail by id', asB.respondActivityTaskFailedById({ ...byId, failure })],
      ['cancel by id', asB.respondActivityTaskCanceledById({ ...byId })],
    ];
    for (const [what, call] of answers)
      expect([what, await codeOf(call)]).toEqual([what, status.PERMISSION_DENIED]);

    // Workflow-level calls on A's running workflow and on the system.
    const execution = { workflowId };
    const workflowCalls: [string, Promise<unknown>][] = [
      [
        'signal decline',
        asB.signalWorkflowExecution({
          namespace: NAMESPACE,
          workflowExecution: execution,
          signalName: 'decline',
        }),
      ],
      [
        'signal cancel',
        asB.signalWorkflowExecution({
          namespace: NAMESPACE,
          workflowExecution: execution,
          signalName: 'cancel',
        }),
      ],
      [
        'query',
        asB.queryWorkflow({ namespace: NAMESPACE, execution, query: { queryType: '__stack_trace' } }),
      ],
      ['history', asB.getWorkflowExecutionHistory({ namespace: NAMESPACE, execution })],
      ['describe', asB.describeWorkflowExecution({ namespace: NAMESPACE, execution })],
      ['list', asB.listWorkflowExecutions({ namespace: NAMESPACE, query: '' })],
      ['count', asB.countWorkflowExecutions({ namespace: NAMESPACE })],
      [
        'cancel workflow',
        asB.requestCancelWorkflowExecution({ namespace: NAMESPACE, workflowExecution: execution }),
      ],
      ['terminate', asB.terminateWorkflowExecution({ namespace: NAMESPACE, workflowExecution: execution })],
      [
        'start on the keyholder queue',
        asB.startWorkflowExecution({
          namespace: NAMESPACE,
          workflowId: `edge-attack-${randomUUID()}`,
          workflowType: { name: 'edgeEchoWorkflow' },
          taskQueue: { name: queues.keyholder(a) },
          requestId: randomUUID(),
        }),
      ],
      ['list schedules', asB.listSchedules({ namespace: NAMESPACE })],
      [
        'describe task queue',
        asB.describeTaskQueue({ namespace: NAMESPACE, taskQueue: { name: queues.node(a) } }),
      ],
      ['describe another namespace', asB.describeNamespace({ namespace: 'temporal-system' })],
    ];
    for (const [what, call] of workflowCalls)
      expect([what, await codeOf(call)]).toEqual([what, status.PERMISSION_DENIED]);

    // Other services behind the same port do not exist on the edge.
    const operator = Connection.lazy({
      address: edge.address,
      metadata: { authorization: await bearer(attackerB, 'node') },
    });
    rawConnections.push(operator);
    expect(await codeOf(operator.operatorService.listSearchAttributes({ namespace: NAMESPACE }))).toBe(
      status.UNIMPLEMENTED,
    );

    // A answers its own task; the workflow ends with A's answer and no trace of B.
    const asTheOwner = { ...byToken, identity: 'node-a' };
    expect(await codeOf(asA.recordActivityTaskHeartbeat(asTheOwner))).toBe('ok');
    expect(
      await codeOf(asA.respondActivityTaskCompleted({ ...asTheOwner, result: payloads('from A') })),
    ).toBe('ok');
    expect(await handle.result()).toBe('from A');
    const events = (await handle.fetchHistory()).events ?? [];
    const types = events.map((e) => proto.api.enums.v1.EventType[e.eventType!]);
    expect(types).not.toContain('EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    expect(types).not.toContain('EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED');
    const completed = events.find((e) => e.activityTaskCompletedEventAttributes);
    expect(completed?.activityTaskCompletedEventAttributes?.identity).toBe('node-a');
    // Once answered, the token is spent at the edge too: not even A can answer it again.
    expect(await codeOf(asA.respondActivityTaskFailed({ ...asTheOwner, failure }))).toBe(
      status.PERMISSION_DENIED,
    );

    // Every refusal was logged with who and what, and no log line carries a token.
    const refusals = logLines.filter((l) => l.includes('refused'));
    expect(refusals.some((l) => l.includes(b) && l.includes('SignalWorkflowExecution'))).toBe(true);
    expect(refusals.some((l) => l.includes('"role":"node"') && l.includes('PollActivityTaskQueue'))).toBe(
      true,
    );
    expect(logLines.join('\n')).not.toContain('emeth-edge-v1.');
  });

  it("passes the frontend's own errors through to the participant", async () => {
    const handle = await client.workflow.start(edgeEchoWorkflow, {
      taskQueue: temporal.taskQueue,
      workflowId: `edge-gone-${randomUUID()}`,
      args: [{ queue: queues.node(a), text: 'gone' }],
    });
    const asA = rawClient(await bearer(nodeA, 'node'));
    const task = await asA.pollActivityTaskQueue(pollOf(queues.node(a)));
    await handle.terminate('the operator ends it');
    // The edge lets A heartbeat its own task; the frontend answers that the task is gone.
    const heartbeat = asA.recordActivityTaskHeartbeat({ namespace: NAMESPACE, taskToken: task.taskToken });
    expect(await codeOf(heartbeat)).toBe(status.NOT_FOUND);
  });

  it("runs A's honest work through the edge with a real SDK worker, across token refreshes", async () => {
    // Tokens live 6 s and are re-signed every 3 s; the work below starts after the first has expired.
    let participant: ParticipantConnection | undefined;
    try {
      participant = await connectThroughEdge({
        endpoint: edge.endpoint,
        signer: nodeA,
        role: 'node',
        chainId: CHAIN_ID,
        tokenSeconds: 6,
      });
      const worker = await Worker.create({
        connection: participant.connection,
        namespace: NAMESPACE,
        taskQueue: queues.node(a),
        activities: {
          async echo(text: string) {
            Context.current().heartbeat('working');
            return `echo:${text}`;
          },
        },
      });
      const results = await worker.runUntil(async () => {
        await new Promise((resolve) => setTimeout(resolve, 8000));
        return Promise.all(
          ['two', 'three'].map((text) =>
            client.workflow.execute(edgeEchoWorkflow, {
              taskQueue: temporal.taskQueue,
              workflowId: `edge-honest-${randomUUID()}`,
              args: [{ queue: queues.node(a), text }],
            }),
          ),
        );
      });
      expect(results).toEqual(['echo:two', 'echo:three']);
    } finally {
      await participant?.close();
    }
  });

  it('holds a long poll on an empty queue until the frontend ends it, with no error', async () => {
    // The frontend ends an idle poll after about a minute with an empty answer; the edge must neither cut it nor fail it.
    const response = await idlePoll;
    expect(response.taskToken?.length ?? 0).toBe(0);
  }, 100_000);

  it('speaks TLS when given a certificate, and refuses plaintext then', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'emeth-edge-tls-'));
    let tlsEdge: NodeEdge | undefined;
    let participant: ParticipantConnection | undefined;
    try {
      const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-addext',
          'basicConstraints=critical,CA:FALSE',
          '-keyout',
          key,
          '-out',
          cert,
        ],
        { stdio: 'ignore' },
      );
      tlsEdge = await startNodeEdge({
        listen: '127.0.0.1:0',
        upstream: temporal.address,
        namespace: NAMESPACE,
        chainId: CHAIN_ID,
        taskQueuePrefix: queues.l2.replace(/-l2$/, ''),
        isRegistered: async (role, address) => role === 'node' && address === a,
        tls: { cert: readFileSync(cert), key: readFileSync(key) },
        logger,
      });
      // NativeConnection.connect calls GetSystemInfo: connecting at all proves TLS and the token.
      participant = await connectThroughEdge({
        endpoint: tlsEdge.endpoint,
        signer: nodeA,
        role: 'node',
        chainId: CHAIN_ID,
        tls: { serverRootCACertificate: readFileSync(cert), serverNameOverride: 'localhost' },
      });
      const plain = NativeConnection.connect({
        address: tlsEdge.address,
        metadata: { authorization: await bearer(nodeA, 'node', { endpoint: tlsEdge.endpoint }) },
      });
      await expect(plain).rejects.toThrow();
    } finally {
      await participant?.close();
      await tlsEdge?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
