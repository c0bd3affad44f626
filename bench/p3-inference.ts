/**
 * P3: inference throughput of the onnx-inference program's `run` (blob read + hash check, decode,
 * batched inference, encode, hash + atomic write) against a bare onnxruntime-node session on the
 * same model and rows, in the same process. Goal per model: run ≥ 0.9× bare.
 *
 *   npx tsx bench/p3-inference.ts [--model mlp|cnn|both] [--rows N] [--batch 256] [--threads N]
 *                                 [--repeats 7] [--hidden 64] [--no-stream] [--sealed]
 *
 * --model: which models (bench/p3-models.ts), default both: the MLP on an EMTX shard (streamed
 * unless --no-stream) and the CNN fixture torch-cnn28.onnx on a .npy shard of [N, 1, 28, 28] images
 * (always whole-blob, .npz out). --rows: rows for every model run (default 100,000 MLP, 20,000 CNN).
 * --sealed: the store seals every blob (lib/envelope, AES-256-GCM) as EMETH Storage does; whole blobs,
 * no streaming, which is how a node reads its shard and writes its output through the gateway.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { createOnnxInferenceProgram } from '../activities/programs/onnx-inference';
import { createLocalBlobStore } from '../activities/storage';
import { sealedBlobStore } from '../activities/storage-sealed';
import { sealingKeysOf } from '../lib/envelope';
import { createLogger } from '../lib/logger';
import type { ShardRef } from '../lib/programs';
import {
  BENCH_MODELS,
  DEFAULT_ROWS,
  bareRun,
  benchModel,
  maxAbsDiff,
  programOutput,
  type BenchModel,
  type BenchModelName,
} from './p3-models';

interface Options {
  models: BenchModelName[];
  /** Rows for every model; undefined: DEFAULT_ROWS per model. */
  rows?: number;
  batch: number;
  threads?: number;
  repeats: number;
  hidden: number;
  /** Hide the store's streaming methods, so `run` takes the whole-blob path. */
  noStream: boolean;
  /** Seal blobs as EMETH Storage does (implies noStream). */
  sealed: boolean;
}

/** Far above any shard here (the CNN's 20,000 rows meter ~6·10^6); `run` must not stop at it. */
const FUEL_LIMIT = '1000000000000000';
/** The program's output and the bare session's may differ by this much (same kernels, same threads). */
const MAX_DIFF = 1e-5;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    models: [...BENCH_MODELS],
    batch: 256,
    repeats: 7,
    hidden: 64,
    noStream: false,
    sealed: false,
  };
  const bad = (i: number) =>
    new Error(`bad argument ${argv[i]} ${argv[i + 1] ?? ''}; see the usage line at the top of this file`);
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--no-stream' || argv[i] === '--sealed') {
      o.noStream = true;
      if (argv[i] === '--sealed') o.sealed = true;
      i--;
      continue;
    }
    if (argv[i] === '--model') {
      const m = argv[i + 1];
      if (m === 'both') o.models = [...BENCH_MODELS];
      else if ((BENCH_MODELS as readonly string[]).includes(m ?? '')) o.models = [m as BenchModelName];
      else throw bad(i);
      continue;
    }
    const key = argv[i]!.replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (
      !['rows', 'batch', 'threads', 'repeats', 'hidden'].includes(key) ||
      !Number.isInteger(value) ||
      value < 1
    ) {
      throw bad(i);
    }
    (o as unknown as Record<string, number>)[key] = value;
  }
  return o;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const best = (xs: number[]) => Math.min(...xs);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface Measured {
  model: BenchModel;
  bareMs: number[];
  runMs: number[];
  diff: number;
  fuelUsed: string;
  /** Whether `run` streamed the shard (EMTX in, EMTX out, a streaming store). */
  streamed: boolean;
}

async function measure(m: BenchModel, opt: Options, root: string): Promise<Measured> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    ...(opt.threads ? { intraOpNumThreads: opt.threads } : {}),
  };
  const bare = await ort.InferenceSession.create(m.modelBytes, sessionOptions);
  // One program (and so one cached session) for all repeats, like a long-running node worker;
  // a fresh store per repeat so every run really writes its output blob (no idempotent skip).
  const keys = sealingKeysOf('0x' + '42'.repeat(32));
  const stores = Array.from({ length: opt.repeats + 1 }, (_, i) => {
    const local = createLocalBlobStore(path.join(root, `s${i}`));
    return opt.sealed ? sealedBlobStore(local, keys) : local;
  });
  let current = stores[0]!;
  const store = {
    put: (b: Uint8Array) => current.put(b),
    get: (id: string) => current.get(id),
    has: (id: string) => current.has(id),
    size: (id: string) => current.size(id),
    ...(opt.noStream ? {} : { putStream: (src: AsyncIterable<Uint8Array>) => current.putStream!(src) }),
    ...(opt.noStream ? {} : { getStream: (id: string) => current.getStream!(id) }),
  };
  const program = createOnnxInferenceProgram({
    store,
    logger: createLogger('silent'),
    batchSize: opt.batch,
    intraOpNumThreads: opt.threads,
    preferCuda: false,
  });
  let modelBlobId = '';
  let shard: ShardRef | undefined;
  for (const s of stores) {
    modelBlobId = await s.put(m.modelBytes);
    // As the program's split gives it: one shard of every row, in the dataset's own format.
    shard = {
      index: 0,
      blobId: await s.put(m.shardBytes),
      rowStart: 0,
      rowEnd: m.rows,
      rows: m.rows,
      cols: m.cols,
      bytes: m.shardBytes.byteLength,
    };
  }

  try {
    // Warm-up (session creation, cost probe, first-run allocations) is not measured; it also checks equality.
    const reference = await bareRun(bare, m, opt.batch);
    current = stores[0]!;
    const warm = await program.run({ shard: shard!, modelBlobId, fuelLimit: FUEL_LIMIT });
    const diff = maxAbsDiff(reference, await programOutput(await current.get(warm.outputBlobId), m));
    if (!(diff <= MAX_DIFF)) {
      throw new Error(
        `${m.name}: the program's output differs from the bare session's by ${diff} (> ${MAX_DIFF})`,
      );
    }

    const bareMs: number[] = [];
    const runMs: number[] = [];
    for (let i = 1; i <= opt.repeats; i++) {
      // Alternate the order so drift (thermal, other load) does not favour one side.
      const measureBare = async () => {
        const t = process.hrtime.bigint();
        await bareRun(bare, m, opt.batch);
        bareMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      };
      const measureRun = async () => {
        current = stores[i]!;
        const t = process.hrtime.bigint();
        await program.run({ shard: shard!, modelBlobId, fuelLimit: FUEL_LIMIT });
        runMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      };
      if (i % 2) {
        await measureBare();
        await measureRun();
      } else {
        await measureRun();
        await measureBare();
      }
    }
    return {
      model: m,
      bareMs,
      runMs,
      diff,
      fuelUsed: warm.fuelUsed,
      streamed: !opt.noStream && m.format === 'emtx',
    };
  } finally {
    await program.close();
    await bare.release();
  }
}

function report(r: Measured, opt: Options): void {
  const { model: m, bareMs, runMs } = r;
  // Best-of alongside the median: on a shared machine the best run is the least disturbed one.
  const bareRate = m.rows / (median(bareMs) / 1000);
  const runRate = m.rows / (median(runMs) / 1000);
  const bestRatio = best(bareMs) / best(runMs);
  const out = m.format === 'emtx' ? 'EMTX' : '.npz';
  const pathLabel = opt.sealed
    ? `sealed: blob read + sha-256 check + AES-256-GCM open, decode, infer, encode ${out}, AES-256-GCM seal + sha-256 + atomic write`
    : r.streamed
      ? `streamed blob read + sha-256 check, infer, ${out} sha-256 + atomic write`
      : `whole blob read + sha-256 check, decode ${m.format === 'emtx' ? 'EMTX' : '.npy'}, infer, encode ${out}, sha-256 + atomic write`;
  console.log(
    `\nP3 inference — ${m.label}, ${fmt(m.rows)} rows, batch ${opt.batch}, ` +
      `threads ${opt.threads ?? 'default'}, CPU (${cpus().length} cores), ${opt.repeats} repeats, ` +
      `max |diff| ${r.diff}, fuel ${r.fuelUsed}\n`,
  );
  console.log('| path | median ms | best ms | rows/s (median) | ratio (median) | ratio (best) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  console.log(
    `| bare onnxruntime-node session | ${median(bareMs).toFixed(1)} | ${best(bareMs).toFixed(1)} | ${fmt(bareRate)} | 1.00× | 1.00× |`,
  );
  console.log(
    `| program \`run\` (${pathLabel}) | ${median(runMs).toFixed(1)} | ` +
      `${best(runMs).toFixed(1)} | ${fmt(runRate)} | ${(runRate / bareRate).toFixed(2)}× | ${bestRatio.toFixed(2)}× |`,
  );
  console.log(`\n${m.name} goal ≥ 0.90× (median): ${runRate / bareRate >= 0.9 ? 'met' : 'NOT met'}`);
}

async function main(): Promise<void> {
  const opt = parseArgs(process.argv.slice(2));
  for (const name of opt.models) {
    const m = await benchModel(name, opt.rows ?? DEFAULT_ROWS[name], { hidden: opt.hidden });
    const root = await mkdtemp(path.join(tmpdir(), `emeth-p3-${name}-`));
    try {
      report(await measure(m, opt, root), opt);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
}

main().catch((err: Error) => {
  console.error(`bench/p3-inference: ${err.stack ?? err.message}`);
  process.exit(1);
});
