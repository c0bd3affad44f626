import fs from 'node:fs';
import path from 'node:path';
import type { InterfaceAbi } from 'ethers';

/** The contracts `contracts/compile.ts` builds. */
export type ContractName = 'EmethToken' | 'EmethCore' | 'EmethL1' | 'EmethMining';

export interface LoadedArtifact {
  contractName: ContractName;
  abi: InterfaceAbi;
  bytecode: string;
}

export const BUILD_DIR = path.join(__dirname, 'build');

const cache = new Map<ContractName, LoadedArtifact>();

/** Reads `contracts/build/<name>.json`; throws telling how to build it when it is missing. */
export function loadArtifact(name: ContractName): LoadedArtifact {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = path.join(BUILD_DIR, `${name}.json`);
  if (!fs.existsSync(file)) {
    throw new Error(
      `contract artifact ${path.relative(process.cwd(), file)} is missing: run \`npm run contracts:compile\` first`,
    );
  }
  const artifact = JSON.parse(fs.readFileSync(file, 'utf8')) as LoadedArtifact;
  if (!Array.isArray(artifact.abi) || typeof artifact.bytecode !== 'string') {
    throw new Error(`contract artifact ${file} is malformed: run \`npm run contracts:compile\` again`);
  }
  cache.set(name, artifact);
  return artifact;
}
