import fs from 'node:fs';
import { NativeConnection } from '@temporalio/worker';
import { JsonRpcProvider, NonceManager, Wallet, type Signer } from 'ethers';
import type { DataConverter } from '@temporalio/common';
import type { EmethConfig } from '../../lib/config';
import { sealingKeysOf } from '../../lib/envelope';
import { fetchStorageKey } from '../../activities/storage-gateway';
import { participantDataConverter } from './data-converter';
import { edgeClaims, makeEdgeToken, MAX_EDGE_TOKEN_SECONDS, type EdgeRole } from '../../lib/edge-token';

/** A signer on the configured chain that serialises its own nonces (anvil rejects concurrent guesses). */
export function chainSigner(
  config: EmethConfig,
  key: string,
): { provider: JsonRpcProvider; wallet: Wallet; signer: NonceManager } {
  const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, {
    batchStallTime: 0,
    cacheTimeout: -1,
  });
  const wallet = new Wallet(key, provider);
  return { provider, wallet, signer: new NonceManager(wallet) };
}

/** Where and as whom a participant reaches Temporal through the node edge. */
export interface EdgeConnectOptions {
  /** host:port of the node edge (EMETH_NODE_ENDPOINT); tokens name it. */
  endpoint: string;
  /** The participant's own wallet: it signs the edge tokens. */
  signer: Signer;
  role: EdgeRole;
  chainId: number;
  /** TLS to the edge: true for a publicly trusted certificate, or the edge's CA. */
  tls?: boolean | { serverRootCACertificate?: Uint8Array; serverNameOverride?: string };
  /** The participant's X25519 public key (hex), announced in its tokens (lib/sealed-payloads). */
  x25519?: string;
  /** Token lifetime in seconds (at most MAX_EDGE_TOKEN_SECONDS). */
  tokenSeconds?: number;
  /** Unix-seconds clock, for tests. */
  now?: () => number;
}

export interface ParticipantConnection {
  connection: NativeConnection;
  /** Stops refreshing the token and closes the connection. */
  close(): Promise<void>;
}

/**
 * A NativeConnection through the node edge, authenticated by a short-lived token signed with the
 * participant's wallet and re-signed well before it expires (the SDK sends the current metadata on
 * every call, long polls included).
 */
export async function connectThroughEdge(options: EdgeConnectOptions): Promise<ParticipantConnection> {
  const lifetime = Math.min(options.tokenSeconds ?? MAX_EDGE_TOKEN_SECONDS, MAX_EDGE_TOKEN_SECONDS);
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const address = (await options.signer.getAddress()).toLowerCase();
  const bearer = async () => {
    const claims = {
      ...edgeClaims(options.role, address, options.chainId, options.endpoint, now(), lifetime),
      ...(options.x25519 ? { x25519: options.x25519 } : {}),
    };
    return { authorization: `Bearer ${await makeEdgeToken(options.signer, claims)}` };
  };
  const connection = await NativeConnection.connect({
    address: options.endpoint,
    tls: options.tls,
    metadata: await bearer(),
  });
  // Refresh at half the lifetime: a poll that began just before still carries a token with time left.
  const refreshMs = Math.max(1, Math.floor(lifetime / 2)) * 1000;
  let refreshing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    refreshing = bearer()
      .then((metadata) => connection.setMetadata(metadata))
      .catch((err: unknown) => {
        process.stderr.write(`emeth: could not refresh the node edge token: ${String(err)}\n`);
      });
  }, refreshMs);
  timer.unref();
  return {
    connection,
    async close() {
      clearInterval(timer);
      await refreshing;
      await connection.close();
    },
  };
}

/** The participant's connection: through the edge when one is named, else straight to the configured frontend. */
export async function connectParticipant(
  config: EmethConfig,
  edge?: EdgeConnectOptions,
): Promise<ParticipantConnection> {
  if (edge) return connectThroughEdge(edge);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  return { connection, close: () => connection.close() };
}

/**
 * A participant's own connection: through the node edge named by EMETH_NODE_ENDPOINT, as `role`,
 * authenticated by its wallet — the only way a node, verifier or keyholder reaches Temporal.
 */
export function connectAsParticipant(
  config: EmethConfig,
  signer: Signer,
  role: EdgeRole,
  chainId: number,
  x25519: Uint8Array,
): Promise<ParticipantConnection> {
  const ca = config.edge.tlsCa;
  return connectThroughEdge({
    endpoint: config.edge.endpoint,
    signer,
    role,
    chainId,
    x25519: Buffer.from(x25519).toString('hex'),
    ...(ca ? { tls: { serverRootCACertificate: fs.readFileSync(ca) } } : {}),
  });
}

/**
 * A participant's Temporal side: its connection through the node edge, and the data converter
 * that opens what is sealed to its key and seals what it sends to the L2's (lib/sealed-payloads).
 */
export async function participantTemporal(
  config: EmethConfig,
  wallet: Signer,
  role: EdgeRole,
  chainId: number,
  walletKey: string,
): Promise<ParticipantConnection & { dataConverter: DataConverter }> {
  const keys = sealingKeysOf(walletKey).x25519;
  const [conn, l2Key] = await Promise.all([
    connectAsParticipant(config, wallet, role, chainId, keys.publicKey),
    fetchStorageKey(config.gateway.url),
  ]);
  return { ...conn, dataConverter: participantDataConverter(keys, l2Key) };
}
