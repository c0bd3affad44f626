import { createHash } from 'node:crypto';
import { Signature, getAddress, hashMessage, recoverAddress, type Signer } from 'ethers';

/**
 * Signed gateway requests (EIP-191 personal_sign). The signature covers the gateway it is meant for
 * (chain id and origin), the method, the path with its query, the sha-256 of the body and a
 * timestamp, so a captured request cannot be replayed after the window, aimed at another route or
 * another deployment, or given another body.
 */
export const AUTH_HEADERS = {
  address: 'x-emeth-address',
  timestamp: 'x-emeth-timestamp',
  signature: 'x-emeth-signature',
} as const;

/** Seconds a signed request stays valid on either side of the gateway's clock. */
export const REPLAY_WINDOW_SECONDS = 300;

/** Which gateway a request is signed for: a signature made for one deployment is refused by every other. */
export interface RequestScope {
  /** scheme://host[:port] of the gateway, as `new URL(url).origin` writes it. */
  origin: string;
  /** The chain id of the deployment's EmethCore. */
  chainId: number;
}

/** The scope of a gateway at `gatewayUrl` (config `gateway.url`) on chain `chainId`. */
export function requestScope(gatewayUrl: string, chainId: number): RequestScope {
  return { origin: new URL(gatewayUrl).origin, chainId };
}

/**
 * Signers that always sign for one gateway (a participant's wallet): signRequest finds their scope
 * here when the caller passes none, so code that only holds the signer signs correctly.
 */
const boundScopes = new WeakMap<object, RequestScope>();

export function bindRequestScope<S extends Signer>(signer: S, scope: RequestScope): S {
  boundScopes.set(signer, scope);
  return signer;
}

/**
 * Adds a unique `nonce` query parameter (which the gateway ignores), so two identical requests in
 * the same second carry different signatures and the second is not refused as a replay.
 */
export function withNonce(pathWithQuery: string): string {
  const nonce = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  return `${pathWithQuery}${pathWithQuery.includes('?') ? '&' : '?'}nonce=${nonce}`;
}

export function bodyDigest(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export function requestMessage(
  scope: RequestScope,
  method: string,
  pathWithQuery: string,
  body: string | Uint8Array,
  timestamp: number,
): string {
  return [
    'EMETH-REQUEST-V2',
    `chain ${scope.chainId}`,
    scope.origin,
    method.toUpperCase(),
    pathWithQuery,
    bodyDigest(body),
    String(timestamp),
  ].join('\n');
}

export async function signRequest(
  signer: Signer,
  method: string,
  pathWithQuery: string,
  body: string | Uint8Array = '',
  now: number = Math.floor(Date.now() / 1000),
  scope: RequestScope | undefined = boundScopes.get(signer),
): Promise<Record<string, string>> {
  if (!scope) {
    throw new Error(
      'signRequest needs the gateway it signs for: pass a RequestScope (requestScope(gatewayUrl, chainId)) or bind one to the signer with bindRequestScope',
    );
  }
  const signature = await signer.signMessage(requestMessage(scope, method, pathWithQuery, body, now));
  return {
    [AUTH_HEADERS.address]: await signer.getAddress(),
    [AUTH_HEADERS.timestamp]: String(now),
    [AUTH_HEADERS.signature]: signature,
  };
}

export type AuthFailure =
  | 'missing-headers'
  | 'bad-address'
  | 'bad-timestamp'
  | 'expired'
  | 'bad-signature'
  | 'non-canonical-signature'
  | 'wrong-signer';

export type VerifyResult =
  | {
      ok: true;
      /** Checksummed address of the signer. */
      address: string;
      /** EIP-191 digest of the signed message: with the address, what makes the request unique. */
      digest: string;
    }
  | { ok: false; reason: AuthFailure; message: string };

/** Half the secp256k1 group order: a canonical (EIP-2) signature has s at most this. */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const CANONICAL_HEX = /^0x[0-9a-f]{130}$/;

/**
 * Whether `signature` is the one canonical encoding of an ECDSA signature: 65 bytes r‖s‖v as
 * lower-case 0x-hex, v 27 or 28, s in the lower half. ethers accepts the same signature in about a
 * hundred other spellings (v 0/1, the 64-byte EIP-2098 form, upper-case hex); refusing them keeps
 * "one request, one signature" true for anything that looks at the bytes.
 */
export function canonicalSignature(signature: string): boolean {
  if (!CANONICAL_HEX.test(signature)) return false;
  const s = BigInt('0x' + signature.slice(66, 130));
  const v = parseInt(signature.slice(130), 16);
  return (v === 27 || v === 28) && s > 0n && s <= HALF_N;
}

/** The header checks that need no body: run before the body is read, so strangers cannot make the gateway read one. */
export function precheckRequest(
  headers: { address?: string; timestamp?: string; signature?: string },
  now: number,
): { ok: true; address: string } | { ok: false; reason: AuthFailure; message: string } {
  const { address, timestamp, signature } = headers;
  if (!address || !timestamp || !signature) {
    return {
      ok: false,
      reason: 'missing-headers',
      message: `send ${Object.values(AUTH_HEADERS).join(', ')} or an API key`,
    };
  }
  let claimed: string;
  try {
    claimed = getAddress(address);
  } catch {
    return { ok: false, reason: 'bad-address', message: `${AUTH_HEADERS.address} is not an EVM address` };
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    return { ok: false, reason: 'bad-timestamp', message: `${AUTH_HEADERS.timestamp} must be unix seconds` };
  }
  if (Math.abs(now - Number(timestamp)) > REPLAY_WINDOW_SECONDS) {
    return {
      ok: false,
      reason: 'expired',
      message: `${AUTH_HEADERS.timestamp} is more than ${REPLAY_WINDOW_SECONDS} s from the gateway's clock`,
    };
  }
  if (!/^0x[0-9a-fA-F]*$/.test(signature) || (signature.length !== 132 && signature.length !== 130)) {
    return {
      ok: false,
      reason: 'bad-signature',
      message: `${AUTH_HEADERS.signature} is not a valid signature`,
    };
  }
  if (!canonicalSignature(signature)) {
    return {
      ok: false,
      reason: 'non-canonical-signature',
      message: `${AUTH_HEADERS.signature} must be the canonical 65-byte form: lower-case 0x-hex r‖s‖v with v 27 or 28 and a low s (what ethers' signMessage returns)`,
    };
  }
  return { ok: true, address: claimed };
}

/** Checks a signed request; pure apart from the signature recovery. Replays are the caller's to refuse. */
export function verifyRequest(
  headers: { address?: string; timestamp?: string; signature?: string },
  method: string,
  pathWithQuery: string,
  body: string | Uint8Array,
  now: number,
  scope: RequestScope,
): VerifyResult {
  const pre = precheckRequest(headers, now);
  if (!pre.ok) return pre;
  const digest = hashMessage(requestMessage(scope, method, pathWithQuery, body, Number(headers.timestamp)));
  let recovered: string;
  try {
    recovered = recoverAddress(digest, Signature.from(headers.signature!));
  } catch {
    return {
      ok: false,
      reason: 'bad-signature',
      message: `${AUTH_HEADERS.signature} is not a valid signature`,
    };
  }
  if (recovered !== pre.address) {
    return {
      ok: false,
      reason: 'wrong-signer',
      message: `the signature was not made by ${pre.address} over this method, path, body and timestamp for the gateway ${scope.origin} on chain ${scope.chainId}`,
    };
  }
  return { ok: true, address: pre.address, digest };
}
