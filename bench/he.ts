/**
 * HE: the cost of CKKS-encrypted aggregation (activities/crypto/ckks.ts) for federated averaging.
 * `--nodes` nodes each encrypt a `--params`-value update; the aggregator takes their weighted sum
 * without a key; the keyholder decrypts it. Against: the same weighted sum in plaintext, and one
 * node's local epoch, so the overhead reads as a share of the work it protects.
 *
 *   npx tsx bench/he.ts [--params 1000000] [--nodes 10] [--steps 10] [--rows 1024] [--threads 1] [--features 1000]
 *
 * The epoch proxy is the real fedavg train-step graph (examples/train-models.ts, MLP, forward +
 * hand-derived backward + SGD update) sized to ~`--params` parameters (features → hidden → 10),
 * run `--steps` times on a `--rows`-row shard in onnxruntime-node on the CPU with `--threads`
 * intra-op threads (1 by default: what activities/programs/fedavg-trainer.ts uses, for
 * reproducible updates). Its cost grows with rows × params; HE's with params only — so the table
 * also prints the shard size at which the overhead would meet the goal.
 *
 * Aggregation is measured three ways, all through the public weightedSum (bytes in, bytes out):
 *   fractional — ten distinct fractional weights (worst case: ten multiplies + rescales per slot block)
 *   shard-size — integer weights with two distinct values (what an even split gives; exact, no rescale)
 *   pre-weighted — every weight 1: the nodes multiplied their update by their weight before encrypting
 * and split into its parts (envelope digest, JS check of SEAL bytes, SEAL load, add, save) with
 * node-seal directly, so the 0.2 s goal can be compared with the pure in-memory add.
 *
 * Goals: aggregation ≤ 0.2 s; HE overhead ≤ 20% of an epoch, where
 *   overhead = (encrypt per node + aggregate / nodes + decrypt / nodes) / epoch.
 */
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { createCkks, loadSeal, sealShapeOf } from '../activities/crypto/ckks';
import { parseBundle } from '../activities/crypto/ckks-format';
import { checkCiphertextBytes } from '../activities/crypto/ckks-seal-check';
import { buildTrainStepModel, initialParams, paramCount } from '../examples/train-models';
import { CKKS_PARAMS } from '../lib/ckks';
import { seededRandom } from '../lib/programs';

interface Options {
  params: number;
  nodes: number;
  steps: number;
  rows: number;
  threads: number;
  features: number;
}

const GOAL_AGGREGATE_S = 0.2;
const GOAL_OVERHEAD = 0.2;
const CLASSES = 10;

function parseArgs(argv: string[]): Options {
  const o: Options = { params: 1_000_000, nodes: 10, steps: 10, rows: 1024, threads: 1, features: 1000 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!(key in o) || !Number.isInteger(value) || value < 1) {
      throw new Error(
        `bad argument ${argv[i]} ${argv[i + 1] ?? ''}; see the usage line at the top of this file`,
      );
    }
    (o as unknown as Record<string, number>)[key] = value;
  }
  return o;
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);
const now = () => performance.now();

function time<T>(fn: () => T): [T, number] {
  const t = now();
  const r = fn();
  return [r, now() - t];
}

/** The plaintext reference: Σ w_i x_i in float64. */
function plainWeightedSum(xs: readonly Float64Array[], ws: readonly number[]): Float64Array {
  const out = new Float64Array(xs[0]!.length);
  xs.forEach((x, i) => {
    const w = ws[i]!;
    for (let j = 0; j < x.length; j++) out[j]! += w * x[j]!;
  });
  return out;
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** One node's local epoch: `steps` train steps of the ~params-parameter MLP on a rows-row shard. */
async function measureEpoch(
  o: Options,
): Promise<{ ms: number; stepMs: number; modelParams: number; hidden: number }> {
  // P = D·h + h + h·C + C  →  h = (P − C) / (D + 1 + C)
  const hidden = Math.max(1, Math.round((o.params - CLASSES) / (o.features + 1 + CLASSES)));
  const dims = { features: o.features, classes: CLASSES, hidden };
  const modelParams = paramCount('mlp', dims);
  const session = await ort.InferenceSession.create(buildTrainStepModel('mlp', dims), {
    executionProviders: ['cpu'],
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const rand = seededRandom('bench-he');
  const data = new Float32Array(o.rows * (o.features + 1));
  for (let r = 0; r < o.rows; r++) {
    for (let c = 0; c < o.features; c++) data[r * (o.features + 1) + c] = rand() * 2 - 1;
    data[r * (o.features + 1) + o.features] = Math.floor(rand() * CLASSES);
  }
  const dataTensor = new ort.Tensor('float32', data, [o.rows, o.features + 1]);
  const lr = new ort.Tensor('float32', Float32Array.of(0.01), [1]);
  let params = initialParams('mlp', dims);
  const step = async () => {
    const out = await session.run({
      params: new ort.Tensor('float32', params, [params.length]),
      data: dataTensor,
      lr,
    });
    params = out.params_out!.data as Float32Array;
  };
  await step(); // warm-up: first run allocates
  const t = now();
  for (let s = 0; s < o.steps; s++) await step();
  const ms = now() - t;
  await session.release();
  return { ms, stepMs: ms / o.steps, modelParams, hidden };
}

interface AggregateBreakdown {
  digestMs: number;
  checkMs: number;
  loadMs: number;
  addMs: number;
  saveMs: number;
}

/**
 * The pre-weighted aggregation taken apart with node-seal directly: what weightedSum does per
 * slot block, timed per phase. The adds alone are what the 137 ms of the offline notes measured.
 */
async function breakdown(bundles: readonly Uint8Array[]): Promise<AggregateBreakdown> {
  const seal = await loadSeal();
  const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
  const moduli = seal.CoeffModulus.Create(
    CKKS_PARAMS.polyModulusDegree,
    Int32Array.from(CKKS_PARAMS.coeffModulusBits),
  );
  parms.setPolyModulusDegree(CKKS_PARAMS.polyModulusDegree);
  parms.setCoeffModulus(moduli);
  const context = seal.Context(parms, true, seal.SecurityLevel.tc128);
  const evaluator = seal.Evaluator(context);
  const acc = seal.CipherText();
  const tmp = seal.CipherText();
  const r: AggregateBreakdown = { digestMs: 0, checkMs: 0, loadMs: 0, addMs: 0, saveMs: 0 };
  try {
    const [parsed, digestMs] = time(() => bundles.map((b) => parseBundle(b, CKKS_PARAMS.slots)));
    r.digestMs = digestMs;
    const shape = sealShapeOf(context, CKKS_PARAMS);
    for (let k = 0; k < parsed[0]!.count; k++) {
      for (const [i, p] of parsed.entries()) {
        const c = p.ciphertexts[k]!;
        r.checkMs += time(() => checkCiphertextBytes(c, shape, `ct ${k}`))[1];
        r.loadMs += time(() => (i === 0 ? acc : tmp).loadArray(context, c))[1];
        if (i > 0) r.addMs += time(() => evaluator.add(acc, tmp, acc))[1];
      }
      r.saveMs += time(() => acc.saveArray(seal.ComprModeType.none))[1];
    }
  } finally {
    for (const x of [tmp, acc, evaluator, context, moduli, parms]) x.delete();
  }
  return r;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  console.log(
    `HE bench: ${o.nodes} nodes × ${o.params.toLocaleString('en')} parameters, CKKS N=${CKKS_PARAMS.polyModulusDegree} ` +
      `[${CKKS_PARAMS.coeffModulusBits.join(',')}] scale 2^${CKKS_PARAMS.scaleBits}; ${cpus().length} CPUs, node ${process.version}`,
  );
  const ckks = await createCkks();
  const [keys, keygenMs] = time(() => ckks.generateKeys());

  const rand = seededRandom('bench-he-updates');
  const updates = Array.from({ length: o.nodes }, () =>
    Float64Array.from({ length: o.params }, () => (rand() * 2 - 1) * 0.01),
  );

  // Encryption: every node's (each is a separate node in reality; timed one by one).
  const encryptMs: number[] = [];
  const bundles = updates.map((u) => {
    const [b, ms] = time(() => ckks.encrypt(keys.publicKey, u));
    encryptMs.push(ms);
    return b;
  });
  const encryptNodeMs = encryptMs[0]!;
  const encryptMeanMs = encryptMs.reduce((a, b) => a + b, 0) / encryptMs.length;
  const bytesPerParam = bundles[0]!.byteLength / o.params;
  const cts = parseBundle(bundles[0]!, CKKS_PARAMS.slots).count;

  // Aggregation, three weightings.
  const shardRows = Array.from({ length: o.nodes }, (_, i) => 1000 + (i < o.nodes / 2 ? 1 : 0));
  const scenarios: { name: string; weights: number[]; note: string }[] = [
    {
      name: 'fractional',
      weights: Array.from({ length: o.nodes }, (_, i) => (i + 1) / ((o.nodes * (o.nodes + 1)) / 2)),
      note: `${o.nodes} distinct fractional weights: multiply + rescale per group`,
    },
    {
      name: 'shard-size',
      weights: shardRows,
      note: '2 distinct integer weights (1001, 1000): exact, no rescale',
    },
    { name: 'pre-weighted', weights: shardRows.map(() => 1), note: 'weight 1 everywhere: adds only' },
  ];
  const results: {
    name: string;
    note: string;
    ms: number;
    plainMs: number;
    err: number;
    decryptMs: number;
  }[] = [];
  for (const s of scenarios) {
    const parts = bundles.map((ciphertext, i) => ({ ciphertext, weight: s.weights[i]! }));
    const [sum, ms] = time(() => ckks.weightedSum(parts));
    const [plain, plainMs] = time(() => plainWeightedSum(updates, s.weights));
    const [decrypted, decryptMs] = time(() => ckks.decrypt(keys.secretKey, sum, o.params));
    results.push({ name: s.name, note: s.note, ms, plainMs, err: maxAbsDiff(decrypted, plain), decryptMs });
  }
  ckks.close();
  const parts = await breakdown(bundles);
  const epoch = await measureEpoch(o);

  const decryptMs = results[results.length - 1]!.decryptMs;
  const overheadOf = (aggMs: number) => (encryptNodeMs + aggMs / o.nodes + decryptMs / o.nodes) / epoch.ms;
  const met = (ok: boolean) => (ok ? '**met**' : '**missed**');

  console.log('');
  console.log('| measure | value | goal |');
  console.log('|---|---|---|');
  console.log(`| key generation | ${seconds(keygenMs)} s | |`);
  console.log(
    `| encrypt, one node (${o.params.toLocaleString('en')} values → ${cts} ciphertexts) | ${seconds(encryptNodeMs)} s (mean of ${o.nodes}: ${seconds(encryptMeanMs)} s) | |`,
  );
  console.log(
    `| ciphertext bytes per parameter | ${bytesPerParam.toFixed(1)} B (${(bundles[0]!.byteLength / 2 ** 20).toFixed(1)} MiB per node) | |`,
  );
  for (const r of results) {
    console.log(
      `| aggregate ${o.nodes}, ${r.name} (${r.note}) | ${seconds(r.ms)} s (plaintext: ${seconds(r.plainMs)} s, ${(r.ms / r.plainMs).toFixed(0)}×; max error ${r.err.toExponential(1)}) | ≤ ${GOAL_AGGREGATE_S} s: ${met(r.ms / 1000 <= GOAL_AGGREGATE_S)} |`,
    );
  }
  console.log(
    `| ↳ pre-weighted, by phase | envelope sha-256 ${seconds(parts.digestMs)} s, JS check of SEAL bytes ${seconds(parts.checkMs)} s, ` +
      `SEAL load ${seconds(parts.loadMs)} s, **adds ${seconds(parts.addMs)} s**, save ${seconds(parts.saveMs)} s | adds alone ≤ ${GOAL_AGGREGATE_S} s: ${met(parts.addMs / 1000 <= GOAL_AGGREGATE_S)} |`,
  );
  console.log(`| decrypt (${o.params.toLocaleString('en')} values) | ${seconds(decryptMs)} s | |`);
  console.log(
    `| epoch proxy: ${o.steps} train steps, MLP ${o.features}→${epoch.hidden}→${CLASSES} (${epoch.modelParams.toLocaleString('en')} params), ` +
      `${o.rows} rows, ${o.threads} thread(s) | ${seconds(epoch.ms)} s (${seconds(epoch.stepMs)} s/step) | |`,
  );
  for (const r of results) {
    const ov = overheadOf(r.ms);
    // HE cost is fixed per epoch, the epoch grows linearly with rows: rows at which overhead = goal.
    const rowsForGoal = Math.ceil((o.rows * ov) / GOAL_OVERHEAD);
    console.log(
      `| HE overhead / epoch, ${r.name} | ${(ov * 100).toFixed(0)}% (goal met from ~${rowsForGoal.toLocaleString('en')} rows per node) | ≤ ${GOAL_OVERHEAD * 100}%: ${met(ov <= GOAL_OVERHEAD)} |`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
