import { createHash } from 'node:crypto';
import { getAddress, verifyMessage, type Signer } from 'ethers';

/**
 * Signed gateway requests (EIP-191 personal_sign). The signature covers the method, the path with
 * its query, the sha-256 of the body and a timestamp, so a captured request cannot be replayed
 * after the window, aimed at another route, or given another body.
 */
export const AUTH_HEADERS = {
  address: 'x-emeth-address',
  timestamp: 'x-emeth-timestamp',
  signature: 'x-emeth-signature',
} as const;

/** Seconds a signed request stays valid on either side of the gateway's clock. */
export const REPLAY_WINDOW_SECONDS = 300;

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
  method: string,
  pathWithQuery: string,
  body: string | Uint8Array,
  timestamp: number,
): string {
  return ['EMETH-REQUEST-V1', method.toUpperCase(), pathWithQuery, bodyDigest(body), String(timestamp)].join(
    '\n',
  );
}

export async function signRequest(
  signer: Signer,
  method: string,
  pathWithQuery: string,
  body: string | Uint8Array = '',
  now: number = Math.floor(Date.now() / 1000),
): Promise<Record<string, string>> {
  const signature = await signer.signMessage(requestMessage(method, pathWithQuery, body, now));
  return {
    [AUTH_HEADERS.address]: await signer.getAddress(),
    [AUTH_HEADERS.timestamp]: String(now),
    [AUTH_HEADERS.signature]: signature,
  };
}

export type AuthFailure =
  'missing-headers' | 'bad-address' | 'bad-timestamp' | 'expired' | 'bad-signature' | 'wrong-signer';

export type VerifyResult =
  { ok: true; address: string } | { ok: false; reason: AuthFailure; message: string };

/** Checks a signed request; pure apart from the signature recovery. Replays are the caller's to refuse. */
export function verifyRequest(
  headers: { address?: string; timestamp?: string; signature?: string },
  method: string,
  pathWithQuery: string,
  body: string | Uint8Array,
  now: number = Math.floor(Date.now() / 1000),
): VerifyResult {
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
  let recovered: string;
  try {
    recovered = verifyMessage(requestMessage(method, pathWithQuery, body, Number(timestamp)), signature);
  } catch {
    return {
      ok: false,
      reason: 'bad-signature',
      message: `${AUTH_HEADERS.signature} is not a valid signature`,
    };
  }
  if (recovered !== claimed) {
    return {
      ok: false,
      reason: 'wrong-signer',
      message: `the signature was not made by ${claimed} over this method, path, body and timestamp`,
    };
  }
  return { ok: true, address: claimed };
}
