import fs from 'node:fs';
import path from 'node:path';
import type { Provider, Signer } from 'ethers';
import type { Deployment } from '../../lib/types-chain';
import { EmethError } from '../../lib/errors';

/** Reads `.emeth/deployment.json` (or EMETH_DEPLOYMENT_FILE) written when the contracts were deployed. */
export function readDeployment(file: string): Deployment {
  if (!fs.existsSync(file)) {
    throw new EmethError(
      'NO_DEPLOYMENT',
      `no contract deployment at ${file}: run \`emeth up\` first, or set EMETH_DEPLOYMENT_FILE`,
    );
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Deployment;
}

/**
 * Reuses the deployment recorded in `file` when its contracts still exist on this chain (anvil
 * reloaded its state), and deploys afresh otherwise (a new chain, or state that was lost).
 */
export async function ensureDeployment(
  file: string,
  provider: Provider,
  deploy: () => Promise<Deployment>,
): Promise<{ deployment: Deployment; reused: boolean }> {
  if (fs.existsSync(file)) {
    const existing = readDeployment(file);
    const { chainId } = await provider.getNetwork();
    const [tokenCode, coreCode] = await Promise.all([
      provider.getCode(existing.token),
      provider.getCode(existing.core),
    ]);
    if (Number(chainId) === existing.chainId && tokenCode !== '0x' && coreCode !== '0x') {
      return { deployment: existing, reused: true };
    }
  }
  const deployment = await deploy();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(deployment, null, 2) + '\n');
  return { deployment, reused: false };
}

export type { Deployment, Signer };
