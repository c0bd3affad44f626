/**
 * Writes the example model and dataset:  npx tsx examples/generate.ts [--out examples/build] [--rows 10000]
 * Idempotent: files whose bytes would not change are left alone (and reported as unchanged).
 */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { encodeMatrix } from '../lib/matrix';
import { syntheticRows } from './datasets';
import { buildMlpModel } from './models';

export const DEFAULT_OUT_DIR = path.join(__dirname, 'build');

export interface GeneratedFile {
  path: string;
  bytes: number;
  changed: boolean;
}

export interface GenerateOptions {
  rows?: number;
  cols?: number;
  hidden?: number;
  classes?: number;
}

export interface GeneratedExamples {
  model: GeneratedFile;
  rows: GeneratedFile;
}

export async function generateExamples(
  outDir = DEFAULT_OUT_DIR,
  options: GenerateOptions = {},
): Promise<GeneratedExamples> {
  const { rows = 10_000, cols = 32, hidden = 64, classes = 10 } = options;
  await mkdir(outDir, { recursive: true });
  return {
    model: await writeIfChanged(
      path.join(outDir, 'mlp.onnx'),
      buildMlpModel({ inputs: cols, hidden, classes }),
    ),
    rows: await writeIfChanged(
      path.join(outDir, 'rows.emt'),
      encodeMatrix(syntheticRows({ rows, cols, clusters: classes })),
    ),
  };
}

async function writeIfChanged(file: string, bytes: Uint8Array): Promise<GeneratedFile> {
  const existing = await readFile(file).catch(() => null);
  if (existing && Buffer.compare(existing, bytes) === 0)
    return { path: file, bytes: bytes.byteLength, changed: false };
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, file); // a reader never sees half a file
  return { path: file, bytes: bytes.byteLength, changed: true };
}

function parseArgs(argv: string[]): { out: string; rows?: number } {
  let out = DEFAULT_OUT_DIR;
  let rows: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--out' || arg.startsWith('--out=')) out = path.resolve(value());
    else if (arg === '--rows' || arg.startsWith('--rows=')) rows = Number(value());
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: npx tsx examples/generate.ts [--out DIR] [--rows N]');
      process.exit(0);
    } else
      throw new Error(`unknown argument ${arg}; usage: npx tsx examples/generate.ts [--out DIR] [--rows N]`);
  }
  if (rows !== undefined && (!Number.isInteger(rows) || rows < 1))
    throw new Error(`--rows must be an integer ≥ 1`);
  return { out, rows };
}

if (require.main === module) {
  (async () => {
    const { out, rows } = parseArgs(process.argv.slice(2));
    const made = await generateExamples(out, { rows });
    for (const f of [made.model, made.rows]) {
      console.log(
        `${f.changed ? 'wrote    ' : 'unchanged'} ${path.relative(process.cwd(), f.path) || f.path}  ${f.bytes} bytes`,
      );
    }
  })().catch((err: Error) => {
    console.error(`examples/generate: ${err.message}`);
    process.exit(1);
  });
}
