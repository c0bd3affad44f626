// Over 300 lines because it is one gRPC server: the method table, authentication, the task-token ledger and forwarding act on the same call.
import * as grpc from '@grpc/grpc-js';
import { temporal } from '@temporalio/proto';
import type { Method, Service, Type } from 'protobufjs';
import type { Logger } from '../../lib/logger';
import { authorize, type EdgeRequest } from '../../lib/edge-policy';
import { verifyEdgeToken, type EdgeRole, type EdgeTokenClaims } from '../../lib/edge-token';
import { taskQueues } from '../../lib/task-queues';
import { TaskTokenLedger } from './task-tokens';

/**
 * The node edge: the one Temporal endpoint nodes, verifiers and keyholders reach. A gRPC proxy in
 * front of the frontend that serves every WorkflowService method with raw bytes, decodes each
 * request with @temporalio/proto to authorize it against the caller's wallet token and role
 * (lib/edge-policy), forwards the same bytes upstream, and reads poll responses to learn which
 * participant holds which activity task token. Every other service (OperatorService, health…)
 * answers UNIMPLEMENTED.
 */

export interface NodeEdgeOptions {
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  /** host:port of the Temporal frontend (loopback, plaintext). */
  upstream: string;
  namespace: string;
  chainId: number;
  /** host:port participants name in their tokens; defaults to the bound listen address. */
  endpoint?: string;
  /** EMETH_TASK_QUEUE_PREFIX of the deployment. */
  taskQueuePrefix?: string;
  /** Whether `address` (lowercase) is registered as `role` (EmethCore, the gateway database, a list). */
  isRegistered(role: EdgeRole, address: string): Promise<boolean>;
  /** A 0600 file the task-token grants are journalled to, so a restart keeps them (see TaskTokenLedger). */
  taskJournal?: string;
  /** Told of every registered participant the first time each of its tokens is accepted. */
  onParticipant?: (claims: EdgeTokenClaims) => void;
  /** PEM; when given the edge speaks TLS only. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger: Logger;
  /** How long a registration answer is trusted (ms); a deregistered participant loses access after it. */
  registrationTtlMs?: number;
  /** Milliseconds clock, for tests. */
  now?: () => number;
}

export interface NodeEdge {
  /** host:port actually bound. */
  address: string;
  /** host:port tokens must name. */
  endpoint: string;
  close(): Promise<void>;
}

// At run time @temporalio/proto's service is a protobufjs reflection Service (its typings show the static class).
const SERVICE = temporal.api.workflowservice.v1.WorkflowService as unknown as Service;
/** Temporal's frontend accepts 128 MiB messages; the edge must not be the tighter limit. */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
/** Connection-level headers grpc-js sets itself on the upstream call, and the participant's token. */
const DROPPED_HEADERS = new Set([
  'authorization',
  'user-agent',
  'host',
  'te',
  'content-type',
  'grpc-timeout',
]);
const ANSWERS = new Set([
  'RespondActivityTaskCompleted',
  'RespondActivityTaskFailed',
  'RespondActivityTaskCanceled',
]);
const NEGATIVE_REGISTRATION_TTL_MS = 5_000;
const MAX_CACHED_TOKENS = 10_000;

const identity = (b: Buffer) => b;

interface Registration {
  until: number;
  registered: Promise<boolean>;
}

interface Admitted {
  claims: EdgeTokenClaims;
  request: EdgeRequest;
  /** What goes upstream. */
  bytes: Buffer;
}

class Refusal extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function durationMs(d: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!d) return undefined;
  const ms = Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
  return ms > 0 ? ms : undefined;
}

function splitHostPort(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  const port = Number(hostPort.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`"${hostPort}" is not host:port (for example 127.0.0.1:7243)`);
  return { host: hostPort.slice(0, i), port };
}

export async function startNodeEdge(options: NodeEdgeOptions): Promise<NodeEdge> {
  const now = options.now ?? Date.now;
  const log = options.logger.child({ component: 'node-edge' });
  const queues = taskQueues(options.taskQueuePrefix);
  const ledger = new TaskTokenLedger({ journal: options.taskJournal });
  const registrationTtlMs = options.registrationTtlMs ?? 60_000;
  const tokens = new Map<string, EdgeTokenClaims>();
  const registrations = new Map<string, Registration>();
  let endpoint = options.endpoint ?? options.listen;

  const upstream = new grpc.Client(options.upstream, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });

  function claimsOf(metadata: grpc.Metadata): EdgeTokenClaims {
    const header = metadata.get('authorization')[0];
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match)
      throw new Refusal(
        grpc.status.UNAUTHENTICATED,
        'send "authorization: Bearer <edge token>" signed with your wallet (lib/edge-token makeEdgeToken)',
      );
    const token = match[1]!;
    const nowS = Math.floor(now() / 1000);
    const cached = tokens.get(token);
    if (cached && cached.expiresAt > nowS) return cached;
    if (cached) tokens.delete(token);
    const verdict = verifyEdgeToken(token, { now: nowS, chainId: options.chainId, endpoint });
    if (!verdict.ok) throw new Refusal(grpc.status.UNAUTHENTICATED, verdict.reason);
    if (tokens.size >= MAX_CACHED_TOKENS) {
      for (const [t, c] of tokens) if (c.expiresAt <= nowS) tokens.delete(t);
      if (tokens.size >= MAX_CACHED_TOKENS) tokens.clear();
    }
    tokens.set(token, verdict.claims);
    return verdict.claims;
  }

  async function checkRegistered(claims: EdgeTokenClaims): Promise<void> {
    const key = `${claims.role}:${claims.address}`;
    let entry = registrations.get(key);
    if (!entry || entry.until <= now()) {
      const registered = options.isRegistered(claims.role, claims.address);
      entry = { until: now() + registrationTtlMs, registered };
      registrations.set(key, entry);
      // A refusal or a failed look-up is re-asked soon, so registering (or a chain hiccup) is not sticky.
      registered.then(
        (ok) => {
          if (!ok) entry!.until = Math.min(entry!.until, now() + NEGATIVE_REGISTRATION_TTL_MS);
        },
        () => registrations.delete(key),
      );
    }
    let ok: boolean;
    try {
      ok = await entry.registered;
    } catch (err) {
      log.error({ err, role: claims.role, address: claims.address }, 'registration check failed');
      throw new Refusal(grpc.status.UNAVAILABLE, 'the edge could not check your registration; retry');
    }
    if (!ok)
      throw new Refusal(
        grpc.status.PERMISSION_DENIED,
        `${claims.address} is not registered as a ${claims.role}; register before connecting`,
      );
    options.onParticipant?.(claims);
  }

  function forwardedMetadata(incoming: grpc.Metadata): grpc.Metadata {
    const out = new grpc.Metadata();
    for (const [key, value] of Object.entries(incoming.getMap())) {
      if (DROPPED_HEADERS.has(key) || key.startsWith(':')) continue;
      out.set(key, value);
    }
    return out;
  }

  /** Who is calling and what they ask, or a Refusal. */
  async function admit(
    api: string,
    RequestType: Type,
    call: grpc.ServerUnaryCall<Buffer, Buffer>,
    who: { claims?: EdgeTokenClaims },
  ): Promise<Admitted> {
    const claims = claimsOf(call.metadata);
    who.claims = claims;
    await checkRegistered(claims);
    let request: EdgeRequest;
    let bytes: Buffer;
    try {
      const message = RequestType.decode(call.request);
      request = message as EdgeRequest;
      // Forward the message as the rules read it, re-encoded: repeated or mis-typed fields that
      // another protobuf parser would merge differently never reach the frontend.
      bytes = Buffer.from(RequestType.encode(message).finish());
    } catch {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, `the ${api} request is not a valid protobuf message`);
    }
    const decision = authorize(claims, api, request, {
      namespace: options.namespace,
      queues,
      taskTokenHolder: (t) => ledger.holderOf(t, now()),
    });
    if (!decision.allow) throw new Refusal(grpc.status.PERMISSION_DENIED, decision.message);
    return { claims, request, bytes };
  }

  function handlerFor(method: Method): grpc.handleUnaryCall<Buffer, Buffer> {
    const api = method.name;
    const path = `/temporal.api.workflowservice.v1.WorkflowService/${api}`;
    const RequestType = method.resolvedRequestType!;
    return (call, callback) => {
      const who: { claims?: EdgeTokenClaims } = {};
      const refused = (err: unknown) => {
        if (!(err instanceof Refusal)) {
          log.error({ err, api }, 'edge failure');
          callback({ code: grpc.status.INTERNAL, details: 'the edge failed on this call; retry' });
          return;
        }
        const { role, address } = who.claims ?? {};
        log.warn(
          { role, address, api, code: grpc.status[err.code], peer: call.getPeer() },
          `refused: ${err.message}`,
        );
        callback({ code: err.code, details: err.message });
      };
      const forward = ({ claims, request, bytes }: Admitted) => {
        log.debug({ role: claims.role, address: claims.address, api }, 'forwarding');
        const upstreamCall = upstream.makeUnaryRequest<Buffer, Buffer>(
          path,
          identity,
          identity,
          bytes,
          forwardedMetadata(call.metadata),
          // Long polls carry the participant's ~70 s deadline through to the frontend.
          { deadline: call.getDeadline() },
          (err, response) => {
            if (err) {
              callback({ code: err.code, details: err.details, metadata: err.metadata });
              return;
            }
            try {
              afterResponse(api, claims, request, response!);
            } catch (e) {
              log.error({ err: e, api, address: claims.address }, 'could not read an upstream response');
            }
            callback(null, response!);
          },
        );
        call.on('cancelled', () => upstreamCall.cancel());
      };
      admit(api, RequestType, call, who).then(forward, refused);
    };
  }

  function afterResponse(api: string, who: EdgeTokenClaims, request: EdgeRequest, response: Buffer): void {
    if (api === 'PollActivityTaskQueue') {
      const task = temporal.api.workflowservice.v1.PollActivityTaskQueueResponse.decode(response);
      // An empty token is a long poll that ended with no task.
      if (task.taskToken && task.taskToken.length > 0) {
        const ttl = durationMs(task.startToCloseTimeout) ?? durationMs(task.scheduleToCloseTimeout);
        ledger.record(task.taskToken, who.address, now(), ttl);
      }
    } else if (ANSWERS.has(api) && request.taskToken) {
      ledger.forget(request.taskToken);
    }
  }

  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  SERVICE.resolveAll();
  for (const method of SERVICE.methodsArray) {
    definition[method.name] = {
      path: `/temporal.api.workflowservice.v1.WorkflowService/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
    handlers[method.name] = handlerFor(method);
  }

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  server.addService(definition, handlers);
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(
        null,
        [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }],
        false,
      )
    : grpc.ServerCredentials.createInsecure();
  const { host } = splitHostPort(options.listen);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  ).catch((err: Error) => {
    upstream.close();
    throw new Error(`the node edge could not listen on ${options.listen}: ${err.message}`);
  });
  const address = `${host}:${port}`;
  if (!options.endpoint) endpoint = address;
  log.info(
    { address, endpoint, upstream: options.upstream, tls: Boolean(options.tls) },
    'node edge listening',
  );

  return {
    address,
    endpoint,
    async close() {
      // Long polls would hold a graceful shutdown for up to 70 s; give answers in flight a moment, then cut.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      upstream.close();
    },
  };
}
