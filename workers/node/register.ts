import { hexlify, id as keccakText, type Signer } from 'ethers';
import { emethCore, emethToken } from '../../contracts/typed';
import type { Deployment } from '../../lib/types-chain';
import { signRequest, withNonce } from '../../lib/request-auth';

/** EmethCore stores the capability class as a uint32: the first 4 bytes of keccak256(name). */
export function capabilityClassId(name: string): number {
  return Number.parseInt(keccakText(name).slice(2, 10), 16);
}

/** Stakes on EmethCore if the node has no stake yet; returns the stake in holon. */
export async function ensureStake(
  signer: Signer,
  deployment: Deployment,
  stake: bigint,
  capabilityClass: string,
  encryptionKey: Uint8Array,
): Promise<bigint> {
  const address = await signer.getAddress();
  const core = emethCore(deployment.core, signer);
  const current = (await core.getNode(address)).stake;
  if (current > 0n) return current;
  const token = emethToken(deployment.token, signer);
  const balance = await token.balanceOf(address);
  if (balance < stake) {
    throw new Error(
      `node ${address} holds ${balance} holon but needs ${stake} to stake: fund it with EMETH first`,
    );
  }
  await (await token.approve(deployment.core, stake)).wait();
  await (await core.registerNode(stake, hexlify(encryptionKey), capabilityClassId(capabilityClass))).wait();
  return stake;
}

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
