import { hexlify, id as keccakText, type Signer } from 'ethers';
import { emethCore, emethToken } from '../../contracts/typed';
import type { Deployment } from '../../lib/types-chain';

/** EmethCore stores the capability class as a uint32: the first 4 bytes of keccak256(name). */
export function capabilityClassId(name: string): number {
  return Number.parseInt(keccakText(name).slice(2, 10), 16);
}

/**
 * Stakes on EmethCore if the participant has no stake yet; returns the stake in holon. A node's
 * stake pays its penalties and fines, a verifier's the fine for a verdict an audit overrules.
 */
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
      `${address} holds ${balance} holon but needs ${stake} to stake: fund it with EMETH first`,
    );
  }
  await (await token.approve(deployment.core, stake)).wait();
  await (await core.registerNode(stake, hexlify(encryptionKey), capabilityClassId(capabilityClass))).wait();
  return stake;
}
