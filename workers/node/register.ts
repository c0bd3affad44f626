import type { Signer } from 'ethers';
import { signRequest, withNonce } from '../../lib/request-auth';

export { capabilityClassId, ensureStake } from '../shared/stake';

/** Tells the gateway this node takes work of `capabilityClass` and the X25519 key its inputs are wrapped to. */
export async function announce(
  gatewayUrl: string,
  signer: Signer,
  capabilityClass: string,
  encryptionKey: Uint8Array,
): Promise<void> {
  const body = JSON.stringify({ capabilityClass, encryptionKey: Buffer.from(encryptionKey).toString('hex') });
  const path = withNonce('/v1/nodes');
  const headers = await signRequest(signer, 'POST', path, body);
  const res = await fetch(`${gatewayUrl}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body,
  });
  if (!res.ok)
    throw new Error(`the gateway refused the node's registration (HTTP ${res.status}): ${await res.text()}`);
}
