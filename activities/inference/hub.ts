/**
 * The serving stream's gateway end: every node dials out one WebSocket to `GET /v1/serve`, signed
 * with its wallet like any gateway request, and keeps it open; requests for the deployments it
 * serves travel down it and its answers come back up. Nothing dials in to a node (DESIGN §6).
 * Temporal stays the control plane (which node serves what, windows, tickets): a request through
 * Temporal costs ≥ 10 ms of task hand-offs (docs/inference-service.md), over this stream < 1 ms.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import { AUTH_HEADERS, verifyRequest, type RequestScope } from '../../lib/request-auth';
import type { FromNode, ToNode, WireTensor } from '../../lib/inference';
import { ReplayGuard } from '../../api/auth';

export const SERVE_PATH = '/v1/serve';

/** The node's stream closed (or it never had one) before it answered: retry on another replica. */
export class ReplicaLost extends Error {
  constructor(
    readonly nodeId: string,
    why: string,
  ) {
    super(`node ${nodeId} ${why}`);
  }
}

/** The node answered with an error: its replica could not run this input. */
export class ReplicaError extends Error {
  constructor(
    readonly nodeId: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(outputs: WireTensor[]): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface Conn {
  socket: WebSocket;
  pending: Map<string, Pending>;
}

export interface ServingHub {
  /** Whether the node holds an open stream now. */
  connected(nodeId: string): boolean;
  /** Nodes with an open stream. */
  nodes(): string[];
  /** Sends one request to the node and waits for its answer (ReplicaLost if the stream drops first). */
  infer(nodeId: string, deploymentId: string, inputs: WireTensor[], timeoutMs: number): Promise<WireTensor[]>;
  /** Told whenever a node's stream closes (the router drops it from every deployment it served). */
  onDisconnect(listener: (nodeId: string) => void): void;
  /** For the gateway's HTTP server: `server.on('upgrade', hub.handleUpgrade)`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}

export interface ServingHubDeps {
  scope: RequestScope;
  /** Whether this address is a registered node (the gateway's Node table). */
  isNode(address: string): Promise<boolean>;
  logger: Logger;
  now?: () => number;
}

export function createServingHub(deps: ServingHubDeps): ServingHub {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'serving-hub' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  const conns = new Map<string, Conn>();
  const replays = new ReplayGuard();
  const listeners: ((nodeId: string) => void)[] = [];

  function refuse(socket: Duplex, status: number, message: string) {
    socket.end(
      `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`,
    );
  }

  function drop(nodeId: string, conn: Conn, why: string) {
    if (conns.get(nodeId) !== conn) return;
    conns.delete(nodeId);
    for (const [, p] of conn.pending) {
      clearTimeout(p.timer);
      p.reject(new ReplicaLost(nodeId, why));
    }
    conn.pending.clear();
    log.info({ nodeId, why }, 'serving stream closed');
    for (const l of listeners) l(nodeId);
  }

  function attach(nodeId: string, socket: WebSocket) {
    const old = conns.get(nodeId);
    if (old) {
      drop(nodeId, old, 'opened a newer stream');
      old.socket.terminate();
    }
    const conn: Conn = { socket, pending: new Map() };
    conns.set(nodeId, conn);
    socket.on('message', (data) => {
      let msg: FromNode;
      try {
        msg = JSON.parse(data.toString()) as FromNode;
      } catch {
        log.warn({ nodeId }, 'a serving message that is not JSON: closing the stream');
        socket.terminate();
        return;
      }
      const p = conn.pending.get(msg.id);
      // An answer to nothing outstanding (late, replayed, invented) is ignored: never billed.
      if (!p) return;
      conn.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.t === 'result' && Array.isArray(msg.outputs)) p.resolve(msg.outputs);
      else if (msg.t === 'error') p.reject(new ReplicaError(nodeId, String(msg.message), msg.code));
      else p.reject(new ReplicaError(nodeId, `an answer of kind '${(msg as { t: string }).t}' to a request`));
    });
    socket.on('close', () => drop(nodeId, conn, 'closed its serving stream'));
    socket.on('error', (err) => log.warn({ nodeId, err: err.message }, 'serving stream error'));
    log.info({ nodeId }, 'serving stream open');
  }

  return {
    connected: (nodeId) => conns.has(nodeId.toLowerCase()),
    nodes: () => [...conns.keys()],
    infer(nodeId, deploymentId, inputs, timeoutMs) {
      const conn = conns.get(nodeId.toLowerCase());
      if (!conn) return Promise.reject(new ReplicaLost(nodeId, 'has no serving stream'));
      const id = randomUUID();
      const msg: ToNode = { t: 'infer', id, deploymentId, inputs };
      return new Promise<WireTensor[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          conn.pending.delete(id);
          reject(new ReplicaLost(nodeId, `did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        conn.pending.set(id, { resolve, reject, timer });
        conn.socket.send(JSON.stringify(msg), (err) => {
          if (!err) return;
          conn.pending.delete(id);
          clearTimeout(timer);
          reject(new ReplicaLost(nodeId, `could not be sent the request: ${err.message}`));
        });
      });
    },
    onDisconnect: (l) => void listeners.push(l),
    handleUpgrade(req, socket, head) {
      const url = req.url ?? '';
      if (url.split('?')[0] !== SERVE_PATH) return void refuse(socket, 403, `no stream at ${url}`);
      const h = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const headers = {
        address: h(AUTH_HEADERS.address),
        timestamp: h(AUTH_HEADERS.timestamp),
        signature: h(AUTH_HEADERS.signature),
      };
      const nowSeconds = Math.floor(now() / 1000);
      const checked = verifyRequest(headers, 'GET', url, Buffer.alloc(0), nowSeconds, deps.scope);
      if (!checked.ok) return void refuse(socket, 401, checked.message);
      if (!replays.accept(checked.address, checked.digest, Number(headers.timestamp), nowSeconds))
        return void refuse(socket, 401, 'this signed stream request was already used; sign a fresh one');
      const nodeId = checked.address.toLowerCase();
      deps
        .isNode(nodeId)
        .then((ok) => {
          if (!ok)
            return refuse(
              socket,
              403,
              `${nodeId} is not a registered node: register with POST /v1/nodes first`,
            );
          wss.handleUpgrade(req, socket, head, (ws) => attach(nodeId, ws));
        })
        .catch((err: Error) => refuse(socket, 403, err.message));
    },
    async close() {
      for (const [nodeId, conn] of conns) {
        drop(nodeId, conn, 'the gateway is stopping');
        conn.socket.terminate();
      }
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
