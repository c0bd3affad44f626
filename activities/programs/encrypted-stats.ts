// Over 300 lines because it is one program module: inspect, split, run, verify and aggregate share the CKKS context and the stats layout.
/**
 * encrypted-stats (ProgramId 3, SubJobs 31): per-column sums, means, standard deviations and
 * histograms of a float32 matrix dataset, computed by nodes and aggregated under CKKS, so that only
 * the requester's keyholder ever sees a number.
 *   split     — the dataset into numParallel contiguous shards (blobs), with fuel-limit shares
 *   run       — on a node: the shard's per-column statistics packed into one vector (statsLayout),
 *               encrypted with the requester's CKKS public key; output = the ciphertext blob
 *   verify    — what can be checked without the secret key (see verify)
 *   aggregate — Σ of the SubJob ciphertexts (weight 1): the encrypted totals blob
 * The keyholder decrypts the totals (Ckks.decrypt) and reads them with decodeStats.
 *
 * Job params (strings, as every Job param):
 *   publicKey  blob id of the requester's CKKS public key (Ckks.generateKeys) — required to run
 *   bins       histogram bins per column, an integer in [1, 1024] (default 10)
 *   min, max   the histogram's range: bin i covers [min + i·w, min + (i+1)·w), w = (max − min) / bins;
 *              values below min count in bin 0, values at or above max in the last bin
 * Non-finite values (NaN, ±Infinity) are skipped: they count nowhere, not even in `count`.
 * The model blob of SplitInput/RunInput is not used by this program.
 */
import type { Ckks } from '../../lib/ckks';
import { EmethError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { decodeMatrix, type Matrix } from '../../lib/matrix';
import {
  ENCRYPTED_STATS_SPEC,
  ProgramId,
  isBlobId,
  meterFuel,
  type AggregateInput,
  type AggregateOutput,
  type BlobId,
  type ModelCost,
  type ProgramModule,
  type RunContext,
  type RunInput,
  type RunOutput,
  type ShardRef,
  type SplitInput,
  type SplitOutput,
  type VerifyInput,
  type VerifyVerdict,
  InspectionError,
  type InspectInput,
  type InspectReport,
} from '../../lib/programs';
import { createCkks } from '../crypto/ckks';
import { keyIdOf, parseBundle } from '../crypto/ckks-format';
import {
  assertFuelWithinLimit,
  assertSplits,
  definedOnly,
  lazyShared,
  loadShard as loadShardFrom,
  matrixShards,
  splitDataset,
  inspecting,
} from './shared';
import type { BlobStore } from '../storage';

// ---------------------------------------------------------------------------------------------
// Types

export interface StatsParams {
  publicKey?: BlobId;
  bins: number;
  min: number;
  max: number;
}

export interface ColumnStats {
  /** Finite values seen (rounded: CKKS returns it as a float near an integer). */
  count: number;
  sum: number;
  /** NaN when count is 0. */
  mean: number;
  /** Population standard deviation; NaN when count is 0. */
  std: number;
  /** Counts per bin (rounded). */
  histogram: number[];
}

export interface EncryptedStatsDeps {
  store: BlobStore;
  logger: Logger;
  /** CKKS for the keyless paths (encrypt, sum). Opened on first use, closed by close(). Default: createCkks. */
  ckks?: () => Promise<Ckks>;
}

export const DEFAULT_BINS = 10;
export const MAX_BINS = 1024;

export class StatsParamsError extends EmethError {
  constructor(message: string) {
    super('BAD_STATS_PARAMS', message);
  }
}

// ---------------------------------------------------------------------------------------------
// Pure parts: params, layout, computing and decoding

/** Parses and checks a Job's params; `needKey` on the paths that encrypt or check the key (run, verify). */
export function parseStatsParams(
  params: Record<string, string> | undefined,
  options: { needKey?: boolean } = {},
): StatsParams {
  const p = params ?? {};
  const known = ['publicKey', 'bins', 'min', 'max'];
  const unknown = Object.keys(p).filter((k) => !known.includes(k));
  if (unknown.length) {
    throw new StatsParamsError(
      `unknown encrypted-stats params: ${unknown.join(', ')}; known: ${known.join(', ')}`,
    );
  }
  if (p.publicKey !== undefined && !isBlobId(p.publicKey)) {
    throw new StatsParamsError(
      `params.publicKey must be a blob id (64 lowercase hex characters), got "${p.publicKey}"; upload the CKKS public key first`,
    );
  }
  if (options.needKey && p.publicKey === undefined) {
    throw new StatsParamsError(
      'encrypted-stats needs params.publicKey (the blob id of the requester’s CKKS public key) to encrypt or check results',
    );
  }
  const bins = p.bins === undefined ? DEFAULT_BINS : /^\d+$/.test(p.bins) ? Number(p.bins) : NaN;
  if (!Number.isInteger(bins) || bins < 1 || bins > MAX_BINS) {
    throw new StatsParamsError(`params.bins must be an integer in [1, ${MAX_BINS}], got "${p.bins}"`);
  }
  const num = (key: 'min' | 'max'): number => {
    const raw = p[key];
    const v = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(v)) {
      throw new StatsParamsError(
        `params.${key} (the histogram range) must be a finite number, got "${raw ?? 'nothing'}"`,
      );
    }
    return v;
  };
  const min = num('min');
  const max = num('max');
  if (!(min < max)) throw new StatsParamsError(`params.min (${min}) must be below params.max (${max})`);
  return { publicKey: p.publicKey, bins, min, max };
}

/** Per column, in column order: [sum, sum of squares, count, bin 0 … bin (bins−1)]. */
export function statsStride(bins: number): number {
  return 3 + bins;
}

export function statsVectorLength(cols: number, bins: number): number {
  return cols * statsStride(bins);
}

/** Relative tolerance of a value check (see statsMismatch). */
const statsTolerance = 1e-5;
const STAT_NAMES = ['sum', 'sum of squares', 'count'];

/** The shard's statistics as one vector (statsStride per column), in float64. */
export function computeStats(m: Matrix, p: Pick<StatsParams, 'bins' | 'min' | 'max'>): Float64Array {
  const stride = statsStride(p.bins);
  const out = new Float64Array(statsVectorLength(m.cols, p.bins));
  const width = (p.max - p.min) / p.bins;
  for (let r = 0; r < m.rows; r++) {
    const row = r * m.cols;
    for (let c = 0; c < m.cols; c++) {
      const v = m.data[row + c]!;
      if (!Number.isFinite(v)) continue;
      const at = c * stride;
      out[at]! += v;
      out[at + 1]! += v * v;
      out[at + 2]! += 1;
      const bin = Math.min(p.bins - 1, Math.max(0, Math.floor((v - p.min) / width)));
      out[at + 3 + bin]! += 1;
    }
  }
  return out;
}

/** The keyholder's side: the decrypted totals vector → statistics per column. */
export function decodeStats(decrypted: Float64Array, cols: number, bins: number): ColumnStats[] {
  const stride = statsStride(bins);
  if (decrypted.length < cols * stride) {
    throw new EmethError(
      'STATS_LENGTH',
      `${cols} columns with ${bins} bins need ${cols * stride} values, the decrypted vector has ${decrypted.length}`,
    );
  }
  return Array.from({ length: cols }, (_, c) => {
    const at = c * stride;
    const sum = decrypted[at]!;
    const sumSq = decrypted[at + 1]!;
    const count = roundCount(decrypted[at + 2]!);
    const mean = count > 0 ? sum / count : NaN;
    // CKKS noise can push a zero variance slightly negative.
    const std = count > 0 ? Math.sqrt(Math.max(0, sumSq / count - mean * mean)) : NaN;
    const histogram = Array.from(decrypted.subarray(at + 3, at + stride), roundCount);
    return { count, sum, mean, std, histogram };
  });
}

/** CKKS returns counts as floats within ~1e-6 of an integer; −0 (a tiny negative zero count) reads as 0. */
function roundCount(x: number): number {
  return Math.round(x) || 0;
}

/**
 * Fuel: each value costs a sum, a square, a count and a bin update (4 units of work), and each row
 * one more; the encryption (fixed per shard, ~12 ms per 4096 values) is not metered.
 */
export function statsCost(cols: number): ModelCost {
  return { workPerRow: 4 * cols, nodes: 1 };
}

// ---------------------------------------------------------------------------------------------
// The module

export function createEncryptedStatsProgram(deps: EncryptedStatsDeps): ProgramModule {
  const { store } = deps;
  const spec = ENCRYPTED_STATS_SPEC;
  const log = (context?: RunContext) =>
    deps.logger.child({ program: spec.name, ...definedOnly(context ?? {}) });

  // One CKKS instance per module, opened on first use (nodes encrypt, the aggregator sums).
  const he = lazyShared<Ckks>(deps.ckks ?? (() => createCkks()), (c) => c.close());
  const ckks = () => he.get();

  const loadShard = (shard: ShardRef) => loadShardFrom(store, shard);

  return {
    spec,

    async inspect(input: InspectInput): Promise<InspectReport> {
      await inspecting('publicKey', 'the statistics parameters', () =>
        parseStatsParams(input.params, { needKey: true }),
      );
      const dataset = await inspecting(
        'dataset',
        `dataset ${input.datasetBlobId} is not an EMTX matrix`,
        async () => decodeMatrix(await store.get(input.datasetBlobId)),
      );
      if (dataset.rows === 0)
        throw new InspectionError('dataset', `dataset ${input.datasetBlobId} has no rows`);
      return { rows: dataset.rows, cols: dataset.cols };
    },

    async split(input: SplitInput): Promise<SplitOutput> {
      assertSplits(spec, input.programId);
      // Bad params fail the Job here, before any node works on it (the key is checked at run).
      if (input.params) parseStatsParams(input.params);
      const started = Date.now();
      const dataset = decodeMatrix(await store.get(input.datasetBlobId));
      const cost = statsCost(dataset.cols);
      return splitDataset({
        store,
        spec,
        input,
        dataset: matrixShards(dataset),
        modelCost: cost,
        fuelRequired: (rows, limit) => meterFuel(rows, cost, limit).required,
        log: log(),
        started,
      });
    },

    async run(input: RunInput): Promise<RunOutput> {
      const started = Date.now();
      const params = parseStatsParams(input.params, { needKey: true });
      const fuel = meterFuel(input.shard.rows, statsCost(input.shard.cols), input.fuelLimit);
      assertFuelWithinLimit(input.shard, fuel, input.fuelLimit);
      const [shard, publicKey, he] = await Promise.all([
        loadShard(input.shard),
        store.get(params.publicKey!),
        ckks(),
      ]);
      const stats = computeStats(shard, params);
      const ciphertext = he.encrypt(publicKey, stats);
      const outputBlobId = await store.put(ciphertext);
      log(input.context).info(
        {
          shardIndex: input.shard.index,
          rows: shard.rows,
          values: stats.length,
          fuelUsed: fuel.fuelUsed,
          outputBlobId,
          ms: Date.now() - started,
        },
        'shard statistics encrypted',
      );
      return {
        shardIndex: input.shard.index,
        outputBlobId,
        // CKKS encryption is randomized and the plaintext is the requester's: the node commits to
        // the ciphertext it reveals, the only thing anyone but the keyholder can check.
        outputDigest: outputBlobId,
        rows: 1,
        cols: stats.length,
        fuelUsed: fuel.fuelUsed,
        executionProvider: 'cpu',
      };
    },

    /**
     * CKKS encryption is randomized, so re-running the shard gives a different ciphertext and the
     * verifier, holding no secret key, cannot compare values. What it checks: the claimed fuel
     * equals the fuel re-derived from the shard; the output blob exists, is intact (digest), was
     * encrypted for the Job's public key, holds exactly the statistics vector of this shard's
     * column count and bin count, and every ciphertext in it is well-formed for SEAL. What it does
     * not check: the values. That needs re-execution plus decryption at the requester's keyholder
     * (out of scope for now); the verdict's reason says so.
     */
    async verify(input: VerifyInput): Promise<VerifyVerdict> {
      const tolerance = input.options.tolerance ?? spec.tolerance;
      const fuelExpected = meterFuel(input.shard.rows, statsCost(input.shard.cols), input.fuelLimit).fuelUsed;
      const verdict: VerifyVerdict = {
        ok: false,
        rowsChecked: 0,
        rowsTotal: input.shard.rows,
        worstDiff: 0,
        worstRow: null,
        mismatches: [],
        fuelExpected,
        fuelClaimed: input.claimed.fuelUsed,
        tolerance,
      };
      const reject = (reason: string): VerifyVerdict => {
        log(input.context).warn({ shardIndex: input.shard.index, reason }, 'result rejected');
        return { ...verdict, ok: false, reason };
      };
      if (input.claimed.fuelUsed !== fuelExpected) {
        return reject(
          `claimed fuelUsed ${input.claimed.fuelUsed} but ${input.shard.rows} rows × ${input.shard.cols} columns meter ${fuelExpected}`,
        );
      }
      const params = parseStatsParams(input.params, { needKey: true });
      const expectedLength = statsVectorLength(input.shard.cols, params.bins);
      const [publicKey, he] = await Promise.all([store.get(params.publicKey!), ckks()]);
      let output: Uint8Array;
      try {
        output = await store.get(input.claimed.outputBlobId);
      } catch (err) {
        return reject(`output blob ${input.claimed.outputBlobId} is unusable: ${(err as Error).message}`);
      }
      try {
        const bundle = parseBundle(output, he.params.slots, `output blob ${input.claimed.outputBlobId}`);
        if (bundle.keyId !== keyIdOf(publicKey)) {
          return reject(
            `output was encrypted for key ${bundle.keyId}, not the Job's public key ${keyIdOf(publicKey)}`,
          );
        }
        if (bundle.length !== expectedLength) {
          return reject(
            `output encrypts ${bundle.length} values; ${input.shard.cols} columns × (3 + ${params.bins} bins) need ${expectedLength}`,
          );
        }
        // Loads every ciphertext through the SEAL-format checks (cheap: stats vectors are small).
        he.weightedSum([{ ciphertext: output, weight: 1 }]);
      } catch (err) {
        return reject(
          `output blob ${input.claimed.outputBlobId} is not a valid ciphertext: ${(err as Error).message}`,
        );
      }
      if (input.claimedValues) {
        // Audited: the keyholder opened the node's vector for us; recompute it from the shard in the
        // clear (the verifier may read the shard) and compare value by value.
        const shard = decodeMatrix(await store.get(input.shard.blobId));
        const recomputed = computeStats(shard, params);
        const { worst, worstAt, ok } = statsMismatch(input.claimedValues, recomputed, statsTolerance);
        const stride = statsStride(params.bins);
        const checked = { ...verdict, rowsChecked: shard.rows, worstDiff: worst, worstRow: null };
        if (!ok) {
          const what =
            worstAt < 0
              ? 'length'
              : `column ${Math.floor(worstAt / stride)} ${STAT_NAMES[worstAt % stride] ?? `bin ${(worstAt % stride) - 3}`}`;
          log(input.context).warn({ shardIndex: input.shard.index, worst, what }, 'result rejected');
          return {
            ...checked,
            ok: false,
            reason: `the statistics differ from the shard's: ${what} is ${input.claimedValues[worstAt]} where the shard gives ${recomputed[worstAt]} (relative difference ${worst}, tolerance ${statsTolerance})`,
          };
        }
        log(input.context).info(
          { shardIndex: input.shard.index, worst },
          'result verified: values recomputed and compared',
        );
        return {
          ...checked,
          ok: true,
          reason: `verified: the keyholder opened the output and every one of its ${recomputed.length} values matches the shard's statistics recomputed here (worst relative difference ${worst})`,
        };
      }
      const reason =
        `checked: fuel re-derived exactly (${fuelExpected}); output blob exists, is intact, was encrypted for the ` +
        `Job's key, and deserializes to ${Math.ceil(expectedLength / he.params.slots)} ciphertext(s) of ` +
        `${expectedLength} values. Not checked: the values — CKKS encryption is randomized, so they can only be ` +
        `verified when the SubJob is audited: the requester's keyholder opens it for the verifier`;
      log(input.context).info(
        { shardIndex: input.shard.index },
        'result checked (values not verifiable without the key)',
      );
      return { ...verdict, ok: true, reason };
    },

    async aggregate(input: AggregateInput): Promise<AggregateOutput> {
      const ordered = [...input.outputs].sort((a, b) => a.index - b.index);
      ordered.forEach((o, i) => {
        if (o.index !== i) {
          throw new EmethError(
            'INCOMPLETE_OUTPUTS',
            `aggregate needs one output per SubJob index 0..${ordered.length - 1}; index ${i} is ` +
              `${o.index < i ? 'repeated' : 'missing'} — wait for every SubJob to be verified`,
          );
        }
      });
      const he = await ckks();
      const parts = [];
      for (const o of ordered) parts.push({ ciphertext: await store.get(o.outputBlobId), weight: 1 });
      const total = he.weightedSum(parts);
      const resultBlobId = await store.put(total);
      const length = parseBundle(total, he.params.slots).length;
      log(input.context).info(
        { resultBlobId, parts: parts.length, values: length },
        'encrypted statistics summed',
      );
      return { resultBlobId, rows: 1, cols: length };
    },

    async close() {
      await he.close();
    },
  };
}

// Kept next to the module so a reader sees which ProgramIds it serves.
export const ENCRYPTED_STATS_PROGRAM_IDS = [
  ProgramId.ENCRYPTED_STATS,
  ProgramId.ENCRYPTED_STATS_SUBJOB,
] as const;

/** Keyholder, for verification only: one shard's statistics vector in the clear (the requester owns the data). */
export function decryptStatsBundle(ckks: Ckks, secretKey: Uint8Array, bundle: Uint8Array): Float64Array {
  return ckks.decrypt(secretKey, bundle, parseBundle(bundle, ckks.params.slots, 'the statistics').length);
}

/**
 * Values agree when |a − b| ≤ tolerance × max(1, |b|): CKKS decryption is exact to about 2^-30
 * relative at scale 2^40 and the keyholder rounds to 2^-20, so sums over many rows need a relative
 * bound; a wrong count, sum or bin is off by at least one unit of the value's own size.
 */
export function statsMismatch(claimed: ArrayLike<number>, recomputed: ArrayLike<number>, tolerance: number) {
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < recomputed.length; i++) {
    const diff = Math.abs(claimed[i]! - recomputed[i]!) / Math.max(1, Math.abs(recomputed[i]!));
    const d = Number.isNaN(diff) ? Infinity : diff;
    if (d > worst) {
      worst = d;
      worstAt = i;
    }
  }
  return { worst, worstAt, ok: claimed.length === recomputed.length && worst <= tolerance };
}

/**
 * The requester's side of a finished Job: its encrypted total opened with the CKKS secret key (only
 * the requester holds it) and decoded per column. The column count follows from the bundle's
 * length and the Job's bins.
 */
export function openStats(input: {
  ckks: Ckks;
  secretKey: Uint8Array;
  total: Uint8Array;
  bins: number;
}): ColumnStats[] {
  const length = parseBundle(input.total, input.ckks.params.slots, 'the Job result').length;
  const stride = statsStride(input.bins);
  if (length % stride !== 0) {
    throw new EmethError(
      'STATS_LENGTH',
      `the result holds ${length} values, not a whole number of columns of ${stride} (3 + ${input.bins} bins); is bins right?`,
    );
  }
  return decodeStats(input.ckks.decrypt(input.secretKey, input.total, length), length / stride, input.bins);
}
