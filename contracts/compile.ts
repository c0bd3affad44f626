/**
 * Compiles every `contracts/*.sol` with solc-js (standard JSON) and writes
 * `contracts/build/<Name>.json` = { contractName, abi, bytecode }, then generates typed ethers v6
 * bindings from those ABIs with TypeChain into `contracts/types/` (both folders are gitignored).
 *
 * Run: `npm run contracts:compile` (or `tsx contracts/compile.ts`). The bootstrap runs it on first
 * run and whenever a .sol file (or this script, or the lockfile) changes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runTypeChain } from 'typechain';

// solc ships no precise types for its wrapper; the surface we use is tiny.
const solc: {
  compile(input: string, callbacks: { import(p: string): { contents: string } | { error: string } }): string;
  version(): string;
} = require('solc');

export const CONTRACTS_DIR = __dirname;
export const BUILD_DIR = path.join(__dirname, 'build');
/** TypeChain's output: `EmethCore`, `EmethToken` types and their `…__factory` classes. */
export const TYPES_DIR = path.join(__dirname, 'types');
const ROOT = path.resolve(__dirname, '..');

/** Optimizer runs: redeem/redeemMany dominate the call volume, so we favour runtime gas over size. */
export const OPTIMIZER_RUNS = 2_000;

/** EIP-170: chains refuse to deploy more runtime code than this. */
export const MAX_RUNTIME_SIZE = 24_576;

export interface Artifact {
  contractName: string;
  abi: unknown[];
  bytecode: string;
}

interface SolcError {
  severity: 'error' | 'warning' | 'info';
  formattedMessage: string;
}

interface SolcOutput {
  errors?: SolcError[];
  contracts?: Record<
    string,
    Record<
      string,
      { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }
    >
  >;
}

/** Resolves `@openzeppelin/...` (and any other package path) from node_modules, and local paths from contracts/. */
function findImport(importPath: string): { contents: string } | { error: string } {
  const candidates = [path.join(CONTRACTS_DIR, importPath), path.join(ROOT, 'node_modules', importPath)];
  for (const file of candidates) {
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, 'utf8') };
  }
  return {
    error: `import not found: ${importPath} (looked in contracts/ and node_modules/; is npm install done?)`,
  };
}

export function sourceFiles(): string[] {
  return fs
    .readdirSync(CONTRACTS_DIR)
    .filter((f) => f.endsWith('.sol'))
    .sort();
}

/** Compiles all sources; throws with every solc error listed when compilation fails. */
export function compileAll(): Artifact[] {
  const sources: Record<string, { content: string }> = {};
  for (const f of sourceFiles())
    sources[f] = { content: fs.readFileSync(path.join(CONTRACTS_DIR, f), 'utf8') };
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
      viaIR: true,
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport })) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) {
    const list = errors.map((e) => e.formattedMessage.trim()).join('\n\n');
    throw new Error(`solc ${solc.version()} failed with ${errors.length} error(s):\n\n${list}`);
  }
  const artifacts: Artifact[] = [];
  for (const file of Object.keys(sources)) {
    for (const [contractName, c] of Object.entries(output.contracts?.[file] ?? {})) {
      if (!c.evm.bytecode.object) continue; // interfaces and abstract contracts
      const runtimeSize = c.evm.deployedBytecode.object.length / 2;
      if (runtimeSize > MAX_RUNTIME_SIZE) {
        throw new Error(
          `${contractName} is ${runtimeSize} bytes of runtime code, over the EIP-170 limit of ${MAX_RUNTIME_SIZE}: ` +
            `lower OPTIMIZER_RUNS in contracts/compile.ts or move code out of the contract`,
        );
      }
      artifacts.push({ contractName, abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` });
    }
  }
  return artifacts;
}

type AbiEntry = { type: string; name?: string; inputs?: { type: string }[] };

const signatureOf = (e: AbiEntry): string =>
  `${e.type} ${e.name ?? ''}(${(e.inputs ?? []).map((i) => i.type).join(',')})`;

/**
 * EmethCore delegates the L1 job functions to its extension EmethL1 (its fallback; EIP-170 has no
 * room for both in one contract), so EmethCore's ABI is its own plus EmethL1's functions, events
 * and errors: TypeScript (and the TypeChain types) see one contract at EmethCore's address.
 */
export function mergeExtensionAbi(artifacts: Artifact[]): Artifact[] {
  const core = artifacts.find((a) => a.contractName === 'EmethCore');
  const l1 = artifacts.find((a) => a.contractName === 'EmethL1');
  if (!core || !l1) return artifacts;
  const seen = new Set((core.abi as AbiEntry[]).map(signatureOf));
  const extra = (l1.abi as AbiEntry[]).filter(
    (e) => e.type !== 'constructor' && e.type !== 'fallback' && !seen.has(signatureOf(e)),
  );
  return artifacts.map((a) => (a === core ? { ...core, abi: [...core.abi, ...extra] } : a));
}

export function writeArtifacts(artifacts: Artifact[]): string[] {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  return artifacts.map((a) => {
    const file = path.join(BUILD_DIR, `${a.contractName}.json`);
    fs.writeFileSync(file, JSON.stringify(a, null, 2) + '\n');
    return file;
  });
}

/**
 * Regenerates `contracts/types/` from the artifacts (the folder is emptied first, so a removed
 * contract leaves no stale binding behind). Returns how many files TypeChain wrote.
 */
export async function generateTypes(artifactFiles: string[]): Promise<number> {
  fs.rmSync(TYPES_DIR, { recursive: true, force: true });
  const { filesGenerated } = await runTypeChain({
    cwd: ROOT,
    target: 'ethers-v6',
    outDir: TYPES_DIR,
    filesToProcess: artifactFiles,
    allFiles: artifactFiles,
  });
  return filesGenerated;
}

async function main(): Promise<void> {
  const started = Date.now();
  const files = writeArtifacts(mergeExtensionAbi(compileAll()));
  const typed = await generateTypes(files);
  console.log(
    `compiled ${files.length} contract(s) in ${Date.now() - started} ms: ${files.map((f) => path.relative(ROOT, f)).join(', ')}; ` +
      `${typed} typed binding file(s) in ${path.relative(ROOT, TYPES_DIR)}/`,
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  });
}
