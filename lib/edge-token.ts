import { getAddress, verifyMessage, type Signer } from 'ethers';

/**
 * Node edge tokens: a short-lived bearer token a participant (node, verifier, keyholder) makes
 * with its own wallet key and sends as `authorization: Bearer <token>` on every call to the node
 * edge. It is an EIP-191 (personal_sign) signature over the role, the address, the chain id, the
 * edge's endpoint and a validity window, so a token captured on one deployment or edge is useless
 * on another, and one captured anywhere is useless after at most MAX_EDGE_TOKEN_SECONDS.
 *
 * Wire form: `emeth-edge-v1.<base64url(JSON claims)>.<base64url(65-byte signature)>`.
 */

export const EDGE_ROLES = ['node', 'verifier', 'keyholder'] as const;
export type EdgeRole = (typeof EDGE_ROLES)[number];

export interface EdgeTokenClaims {
  role: EdgeRole;
  /** The participant's wallet address (lowercase once verified). */
  address: string;
  chainId: number;
  /** host:port of the edge the token is meant for. */
  endpoint: string;
  /** Unix seconds. */
  issuedAt: number;
  /** Unix seconds; at most MAX_EDGE_TOKEN_SECONDS after issuedAt. */
  expiresAt: number;
  /**
   * The participant's X25519 public key (hex), vouched for by its wallet signature: what the L2
   * seals this participant's Temporal payloads to (lib/sealed-payloads).
   */
  x25519?: string;
}

export const EDGE_TOKEN_PREFIX = 'emeth-edge-v1';
/** The longest a token may live: a stolen token is worth at most this long. */
export const MAX_EDGE_TOKEN_SECONDS = 600;
/** Clock skew tolerated between a participant and the edge for `issuedAt`. */
export const EDGE_TOKEN_SKEW_SECONDS = 60;

export type EdgeTokenVerdict = { ok: true; claims: EdgeTokenClaims } | { ok: false; reason: string };

/** The text the wallet signs: one field per line, so what is signed is readable in a wallet prompt. */
export function edgeTokenMessage(claims: EdgeTokenClaims): string {
  return [
    'EMETH-EDGE-TOKEN-V1',
    `role: ${claims.role}`,
    `address: ${claims.address.toLowerCase()}`,
    `chainId: ${claims.chainId}`,
    `endpoint: ${claims.endpoint.toLowerCase()}`,
    `issuedAt: ${claims.issuedAt}`,
    `expiresAt: ${claims.expiresAt}`,
    ...(claims.x25519 ? [`x25519: ${claims.x25519.toLowerCase()}`] : []),
  ].join('\n');
}

/** Signs `claims` with `signer`; the edge refuses the token unless `signer` is `claims.address`. */
export async function makeEdgeToken(signer: Signer, claims: EdgeTokenClaims): Promise<string> {
  const normalized: EdgeTokenClaims = {
    ...claims,
    address: claims.address.toLowerCase(),
    endpoint: claims.endpoint.toLowerCase(),
    ...(claims.x25519 ? { x25519: claims.x25519.toLowerCase() } : {}),
  };
  const signature = await signer.signMessage(edgeTokenMessage(normalized));
  const body = Buffer.from(JSON.stringify(normalized), 'utf8').toString('base64url');
  return `${EDGE_TOKEN_PREFIX}.${body}.${Buffer.from(signature.slice(2), 'hex').toString('base64url')}`;
}

/** Claims for a token from `address` valid from `now` for `lifetimeSeconds` (default the maximum). */
export function edgeClaims(
  role: EdgeRole,
  address: string,
  chainId: number,
  endpoint: string,
  now: number,
  lifetimeSeconds = MAX_EDGE_TOKEN_SECONDS,
): EdgeTokenClaims {
  return { role, address, chainId, endpoint, issuedAt: now, expiresAt: now + lifetimeSeconds };
}

function parseClaims(json: string): EdgeTokenClaims | string {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return 'the token claims are not JSON';
  }
  if (typeof raw !== 'object' || raw === null) return 'the token claims are not an object';
  const c = raw as Record<string, unknown>;
  if (!EDGE_ROLES.includes(c.role as EdgeRole))
    return `the token role must be one of ${EDGE_ROLES.join(', ')}`;
  if (typeof c.address !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(c.address))
    return 'the token address is not an EVM address';
  if (!Number.isSafeInteger(c.chainId)) return 'the token chainId is not an integer';
  if (typeof c.endpoint !== 'string' || c.endpoint.length === 0 || c.endpoint.length > 255)
    return 'the token endpoint is not a host:port';
  if (!Number.isSafeInteger(c.issuedAt) || !Number.isSafeInteger(c.expiresAt))
    return 'the token issuedAt and expiresAt must be unix seconds';
  if (c.x25519 !== undefined && (typeof c.x25519 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(c.x25519)))
    return 'the token x25519 key is not 32 bytes of hex';
  return {
    role: c.role as EdgeRole,
    address: c.address.toLowerCase(),
    chainId: c.chainId as number,
    endpoint: c.endpoint.toLowerCase(),
    issuedAt: c.issuedAt as number,
    expiresAt: c.expiresAt as number,
    ...(typeof c.x25519 === 'string' ? { x25519: c.x25519.toLowerCase() } : {}),
  };
}

/**
 * Checks a token for the edge at `endpoint` on `chainId` at `now` (unix seconds): its form, its
 * window, its chain and endpoint, and that `claims.address` signed exactly these claims. Whether
 * the address is registered for its role is the caller's to check.
 */
export function verifyEdgeToken(
  token: string,
  expected: { now: number; chainId: number; endpoint: string },
): EdgeTokenVerdict {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== EDGE_TOKEN_PREFIX)
    return { ok: false, reason: `the token is not an ${EDGE_TOKEN_PREFIX} token` };
  const claims = parseClaims(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  if (typeof claims === 'string') return { ok: false, reason: claims };
  if (claims.expiresAt <= expected.now)
    return { ok: false, reason: 'the token has expired; sign a fresh one' };
  if (claims.issuedAt > expected.now + EDGE_TOKEN_SKEW_SECONDS)
    return { ok: false, reason: "the token is issued in the future; check this machine's clock" };
  if (claims.expiresAt - claims.issuedAt > MAX_EDGE_TOKEN_SECONDS)
    return { ok: false, reason: `the token lives longer than ${MAX_EDGE_TOKEN_SECONDS} s` };
  if (claims.chainId !== expected.chainId)
    return {
      ok: false,
      reason: `the token is for chain ${claims.chainId}, this edge serves ${expected.chainId}`,
    };
  if (claims.endpoint !== expected.endpoint.toLowerCase())
    return {
      ok: false,
      reason: `the token is for the edge at ${claims.endpoint}, this edge is ${expected.endpoint}`,
    };
  const signature = Buffer.from(parts[2]!, 'base64url');
  if (signature.length !== 65) return { ok: false, reason: 'the token signature is not 65 bytes' };
  let recovered: string;
  try {
    recovered = verifyMessage(edgeTokenMessage(claims), '0x' + signature.toString('hex'));
  } catch {
    return { ok: false, reason: 'the token signature is not a valid signature' };
  }
  if (getAddress(recovered) !== getAddress(claims.address))
    return { ok: false, reason: `the token was not signed by ${claims.address} over these claims` };
  return { ok: true, claims };
}
