/**
 * The node's serving stream: one WebSocket dialled out to the gateway's `/v1/serve`, signed with
 * the node's wallet, kept open (redialled after a drop) while the node runs. Requests for the
 * deployments it holds warm arrive on it; each is answered on it as soon as its session has run.
 */
import type { Signer } from 'ethers';
import WebSocket from 'ws';
import type { Logger } from '../../lib/logger';
import { signRequest, withNonce } from '../../lib/request-auth';
import type { ToNode } from '../../lib/inference';
import type { WarmSessions } from '../../activities/inference/node';

export interface ServingStream {
  /** Resolves once the first stream is open. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

const SERVE_PATH = '/v1/serve';

export function openServingStream(opts: {
  gatewayUrl: string;
  signer: Signer;
  sessions: WarmSessions;
  logger: Logger;
}): ServingStream {
  const log = opts.logger.child({ component: 'serving-stream' });
  let stopped = false;
  let socket: WebSocket | undefined;
  let backoffMs = 250;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));

  async function dial(): Promise<void> {
    if (stopped) return;
    const path = withNonce(SERVE_PATH);
    const url = opts.gatewayUrl.replace(/^http/, 'ws') + path;
    let headers: Record<string, string>;
    try {
      headers = await signRequest(opts.signer, 'GET', path);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'could not sign the serving stream request');
      return void setTimeout(dial, 5000).unref();
    }
    const ws = new WebSocket(url, { headers, maxPayload: 64 * 1024 * 1024 });
    socket = ws;
    ws.on('open', () => {
      backoffMs = 250;
      log.info('serving stream open');
      markReady();
    });
    ws.on('message', (data) => {
      let msg: ToNode;
      try {
        msg = JSON.parse(data.toString()) as ToNode;
      } catch {
        return;
      }
      void opts.sessions.answer(msg).then((reply) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(reply));
      });
    });
    ws.on('unexpected-response', (_req, res) => {
      log.warn({ status: res.statusCode }, 'the gateway refused the serving stream');
      // With this listener ws leaves the handshake open; aborting it emits 'close', which redials
      // (a gateway that refused while it was starting accepts a later try).
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => log.debug({ err: err.message }, 'serving stream error'));
    ws.on('close', () => {
      if (stopped) return;
      backoffMs = Math.min(backoffMs * 2, 5000);
      setTimeout(() => void dial(), backoffMs).unref();
    });
  }

  void dial();
  return {
    ready,
    async stop() {
      stopped = true;
      socket?.close();
      await opts.sessions.close();
    },
  };
}
