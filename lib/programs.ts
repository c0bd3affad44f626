// Over 300 lines because it is the Program contract in one place: types, specs, and the pure rules the L2, nodes and verifier must agree on.
/**
 * The Program contract: what every program module (split, run, verify, aggregate) takes and
 * returns, the declared program specs, and the pure rules shared by the L2 server, the nodes and
 * the verifier (fuel metering, fuel-limit shares, spot-check sampling).
 *
 * Pure: workflows import this file, so it does no I/O, reads no clock and uses no ambient
 * randomness. Every object below crosses Temporal as JSON, so it carries blob ids and counts,
 * never data (aim < 64 KB), and amounts of fuel and holon are decimal strings (bigint does not
 * survive JSON).
 */
import { EmethError } from './errors';
import { DEFAULT_VERIFICATION_POLICY, type VerificationPolicy } from './verification-policy';

// ---------------------------------------------------------------------------------------------
// Ids

/** A content id in EMETH Storage: the lowercase hex sha-256 of the stored bytes. */
export type BlobId = string;

const BLOB_ID_RE = /^[0-9a-f]{64}$/;

export function isBlobId(value: unknown): value is BlobId {
  return typeof value === 'string' && BLOB_ID_RE.test(value);
}

/** Parent programs and their SubJob programs (the paper's example: 1 → 11). */
export const ProgramId = {
  ONNX_INFERENCE: 1,
  ONNX_INFERENCE_SUBJOB: 11,
  FEDAVG_TRAIN: 2,
  FEDAVG_TRAIN_SUBJOB: 21,
  ENCRYPTED_STATS: 3,
  ENCRYPTED_STATS_SUBJOB: 31,
} as const;
export type ProgramIdValue = (typeof ProgramId)[keyof typeof ProgramId];

// ---------------------------------------------------------------------------------------------
// Specs

export interface ProgramSpec {
  /** The parent Job's ProgramId. */
  programId: number;
  /** The ProgramId of the SubJobs the Splitter makes for it. */
  subProgramId: number;
  name: string;
  /** Lowest fuelPrice a requester may offer, in holon per fuel, as a decimal string. */
  minFuelPrice: string;
  /** Fuel limit of a Job that states none, as a decimal string. */
  defaultFuelLimit: string;
  /** Largest absolute difference per output value the verifier accepts (float re-execution). */
  tolerance: number;
  /**
   * How a node's results of this program are checked and what a proven mismatch costs it
   * (lib/verification-policy.ts): probation, audits, spot-checked rows, the fine.
   */
  verification: VerificationPolicy;
  /** False for programs declared for later issues: their modules do not exist yet. */
  implemented: boolean;
  /**
   * The requester's keyholder takes part: outputs are encrypted to the requester, the aggregate is
   * opened by its keyholder, a checked output is opened for the verifier, and epoch e > 0 runs from
   * epoch e − 1's checkpoint.
   */
  needsKeyholder: boolean;
  /**
   * The node's output is encrypted to the requester: an audited output is opened by the
   * requester's keyholder and sealed to the verifiers, who compare it with their recomputation.
   */
  keyholderOpensOutputs: boolean;
  /** The Job parameter naming the model blob the Splitter splits against and nodes run. */
  modelParam: string;
  /** The Job parameters handed to the program's nodes and verifier, under the same names. */
  runParams: readonly string[];
}

export const ONNX_INFERENCE_SPEC: ProgramSpec = {
  programId: ProgramId.ONNX_INFERENCE,
  subProgramId: ProgramId.ONNX_INFERENCE_SUBJOB,
  name: 'onnx-inference',
  minFuelPrice: '1000000000', // 1 Gholon
  defaultFuelLimit: '120000', // the paper's example
  // CPU and CUDA kernels of the same graph differ around 1e-6 on softmax outputs; 1e-4 leaves room
  // for that while a lying node (any real change of an output) is far above it.
  tolerance: 1e-4,
  verification: DEFAULT_VERIFICATION_POLICY,
  implemented: true,
  needsKeyholder: false,
  keyholderOpensOutputs: false,
  modelParam: 'model',
  runParams: ['inputs', 'outputs', 'datasetFormat'],
};

export const FEDAVG_TRAIN_SPEC: ProgramSpec = {
  programId: ProgramId.FEDAVG_TRAIN,
  subProgramId: ProgramId.FEDAVG_TRAIN_SUBJOB,
  name: 'fedavg-train',
  minFuelPrice: '1000000000',
  defaultFuelLimit: '1000000',
  tolerance: 1e-3,
  // An update is one value per parameter, so there are no rows to spot-check: an unaudited update
  // gets a shape check only, hence the higher floor of audited updates.
  verification: { ...DEFAULT_VERIFICATION_POLICY, auditRate: 0.25, spotRowRate: 0 },
  implemented: true,
  needsKeyholder: true,
  keyholderOpensOutputs: true,
  modelParam: 'initialModel',
  runParams: ['trainGraph', 'publicKey', 'localSteps', 'learningRate', 'batchSize', 'modelKind', 'clipNorm'],
};

export const ENCRYPTED_STATS_SPEC: ProgramSpec = {
  programId: ProgramId.ENCRYPTED_STATS,
  subProgramId: ProgramId.ENCRYPTED_STATS_SUBJOB,
  name: 'encrypted-stats',
  minFuelPrice: '1000000000',
  defaultFuelLimit: '100000',
  tolerance: 1e-6,
  // A shard's output is one encrypted vector of statistics: no rows to spot-check, so an
  // unaudited output gets the structural checks and audits carry the value check.
  verification: { ...DEFAULT_VERIFICATION_POLICY, auditRate: 0.25, spotRowRate: 0 },
  implemented: true,
  // The result is the requester's to open (emeth keyholder open-stats), but no keyholder takes part
  // in the run: there is no model to update between epochs.
  needsKeyholder: false,
  keyholderOpensOutputs: true,
  modelParam: 'model',
  runParams: ['publicKey', 'bins', 'min', 'max'],
};

export const PROGRAM_SPECS: readonly ProgramSpec[] = [
  ONNX_INFERENCE_SPEC,
  FEDAVG_TRAIN_SPEC,
  ENCRYPTED_STATS_SPEC,
];

/** The spec of a parent or SubJob ProgramId, or undefined when no program has that id. */
export function findProgramSpec(programId: number): ProgramSpec | undefined {
  return PROGRAM_SPECS.find((s) => s.programId === programId || s.subProgramId === programId);
}

export function getProgramSpec(programId: number): ProgramSpec {
  const spec = findProgramSpec(programId);
  if (!spec) {
    const known = PROGRAM_SPECS.map((s) => `${s.programId}/${s.subProgramId} ${s.name}`).join(', ');
    throw new EmethError('UNKNOWN_PROGRAM', `no program has ProgramId ${programId}; known: ${known}`);
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Fuel

/** What one row of a model costs, derived from the model's graph (onnx-inference: activities/programs/onnx-fuel.ts). */
export interface ModelCost {
  /** Work units per row: the fuel table's price of every node at the shapes one row gives it (MACs for contractions). */
  workPerRow: number;
  /** Graph nodes, charged one unit of work each per row so that a graph without MatMul still costs. */
  nodes: number;
}

/** Units of work (work per row + node count) that make one fuel. */
export const WORK_PER_FUEL = 1000n;

export interface FuelMeter {
  /** Fuel the work needs, uncapped, decimal string. */
  required: string;
  /** min(required, fuelLimit), decimal string: what a node may report and be paid for. */
  fuelUsed: string;
  /** True when the work needs more than the limit: the node must not run it (it would be unpaid). */
  exceedsLimit: boolean;
}

/**
 * Fuel of `rows` rows of a model: ceil(rows × (workPerRow + nodes) / WORK_PER_FUEL), at least 1
 * for a non-empty shard, capped by the limit. Integer arithmetic only, so the node and the
 * verifier derive the same number on any machine.
 */
export function meterFuel(rows: number, cost: ModelCost, fuelLimit: string | bigint): FuelMeter {
  assertCount('rows', rows);
  assertCount('workPerRow', cost.workPerRow);
  assertCount('nodes', cost.nodes);
  const limit = toFuel('fuelLimit', fuelLimit);
  const work = BigInt(rows) * (BigInt(cost.workPerRow) + BigInt(cost.nodes));
  let required = (work + WORK_PER_FUEL - 1n) / WORK_PER_FUEL;
  if (rows > 0 && required === 0n) required = 1n;
  const used = required < limit ? required : limit;
  return { required: required.toString(), fuelUsed: used.toString(), exceedsLimit: required > limit };
}

/**
 * SPEC §4 decision: a parent's fuel limit is split across its SubJobs in proportion to shard
 * size. Largest-remainder rounding, so the shares always sum to the parent's limit exactly.
 */
export function splitFuelLimit(total: string | bigint, rowsPerShard: readonly number[]): string[] {
  const limit = toFuel('fuelLimit', total);
  rowsPerShard.forEach((r) => assertCount('rows', r));
  const allRows = rowsPerShard.reduce((a, r) => a + BigInt(r), 0n);
  if (rowsPerShard.length === 0) return [];
  if (allRows === 0n) {
    throw new EmethError('NO_ROWS', 'cannot split a fuel limit over shards that hold no rows');
  }
  const shares = rowsPerShard.map((r) => (limit * BigInt(r)) / allRows);
  const remainders = rowsPerShard.map((r, i) => ({ i, rem: (limit * BigInt(r)) % allRows }));
  let left = limit - shares.reduce((a, s) => a + s, 0n);
  remainders.sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (let k = 0; left > 0n; k++, left--) shares[remainders[k % remainders.length]!.i]! += 1n;
  return shares.map((s) => s.toString());
}

function toFuel(what: string, value: string | bigint): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n) throw new EmethError('BAD_FUEL', `${what} must be ≥ 0, got ${value}`);
    return value;
  }
  if (!/^\d+$/.test(value)) {
    throw new EmethError(
      'BAD_FUEL',
      `${what} must be a non-negative integer as a decimal string, got "${value}"`,
    );
  }
  return BigInt(value);
}

function assertCount(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new EmethError('BAD_COUNT', `${what} must be a non-negative integer, got ${n}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Even split

export interface RowRange {
  rowStart: number;
  /** Exclusive. */
  rowEnd: number;
}

/**
 * Splits `rows` rows into min(numParallel, rows) contiguous ranges in row order whose sizes differ
 * by at most one (the larger ones first, so the last may be smaller). Balanced rather than
 * ceil-sized chunks: 9 rows over 4 SubJobs give 3,2,2,2 — four SubJobs, not three.
 */
export function splitRows(rows: number, numParallel: number): RowRange[] {
  assertCount('rows', rows);
  if (!Number.isSafeInteger(numParallel) || numParallel < 1) {
    throw new EmethError('BAD_PARALLELISM', `numParallel must be an integer ≥ 1, got ${numParallel}`);
  }
  if (rows === 0) throw new EmethError('NO_ROWS', 'the dataset has no rows; there is nothing to split');
  const parts = Math.min(numParallel, rows);
  const base = Math.floor(rows / parts);
  const extra = rows % parts;
  const ranges: RowRange[] = [];
  let start = 0;
  for (let i = 0; i < parts; i++) {
    const size = base + (i < extra ? 1 : 0);
    ranges.push({ rowStart: start, rowEnd: start + size });
    start += size;
  }
  return ranges;
}

// ---------------------------------------------------------------------------------------------
// Spot-check sampling (deterministic, seeded)

/**
 * A small seeded PRNG (cyrb128 seed hash into sfc32). Not for secrets: the seed is what makes a
 * sample reproducible by anyone who audits a verdict. Returns floats in [0, 1).
 */
export function seededRandom(seed: string | number): () => number {
  const str = String(seed);
  let h1 = 1779033703,
    h2 = 3144134277,
    h3 = 1013904242,
    h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  let a = (h1 ^ h2 ^ h3 ^ h4) >>> 0,
    b = (h2 ^ h1) >>> 0,
    c = (h3 ^ h1) >>> 0,
    d = (h4 ^ h1) >>> 0;
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return (r >>> 0) / 4294967296;
  };
}

/**
 * The rows (0-based, ascending, no repeats) a verifier re-executes out of `rows`:
 * ceil(rows × rate), at least one when rate > 0, all of them when rate ≥ 1. Floyd's algorithm,
 * so the cost is the sample size, not the shard size.
 */
export function sampleRows(rows: number, rate: number, seed: string | number): number[] {
  assertCount('rows', rows);
  if (!(rate >= 0 && rate <= 1))
    throw new EmethError('BAD_RATE', `sample rate must be within [0, 1], got ${rate}`);
  if (rows === 0 || rate === 0) return [];
  const k = Math.min(rows, Math.max(1, Math.ceil(rows * rate)));
  if (k === rows) return Array.from({ length: rows }, (_, i) => i);
  const rand = seededRandom(seed);
  const chosen = new Set<number>();
  for (let j = rows - k; j < rows; j++) {
    const t = Math.floor(rand() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((x, y) => x - y);
}

// ---------------------------------------------------------------------------------------------
// Module contract: split → run (per SubJob, on a node) → verify → aggregate

/** One SubJob's part of the dataset. Rows [rowStart, rowEnd) of the dataset, in order. */
export interface ShardRef {
  /** SubJob index within the Job (0-based): aggregate concatenates in this order. */
  index: number;
  blobId: BlobId;
  rowStart: number;
  rowEnd: number;
  rows: number;
  cols: number;
  /** Stored size of the shard blob, so a node can refuse what it cannot hold before fetching. */
  bytes: number;
}

export interface SplitInput {
  programId: number;
  datasetBlobId: BlobId;
  modelBlobId: BlobId;
  numParallel: number;
  /** The parent Job's fuel limit, split across shards in proportion to rows (decimal string). */
  fuelLimit: string;
  /** Program-specific Job parameters (e.g. fedavg-train's graph, key and learning rate); JSON strings only. */
  params?: Record<string, string>;
}

export interface SplitShard extends ShardRef {
  /** This SubJob's share of the parent's fuel limit. */
  fuelLimit: string;
  /** Fuel this shard needs by the metering rule; > fuelLimit means the Job's limit is too low. */
  fuelRequired: string;
}

export interface SplitOutput {
  programId: number;
  subProgramId: number;
  datasetBlobId: BlobId;
  modelBlobId: BlobId;
  totalRows: number;
  cols: number;
  modelCost: ModelCost;
  /** In row order; at most numParallel (fewer when the dataset has fewer rows). */
  shards: SplitShard[];
}

/** Where a log line or an error belongs; every field optional because tests and benches have none. */
export interface RunContext {
  jobId?: string;
  subJobId?: string;
  nodeId?: string;
  /** The run is one of a replicated SubJob's (committed before revealed); programs ignore it, drills may not. */
  replica?: boolean;
}

export interface RunInput {
  shard: ShardRef;
  modelBlobId: BlobId;
  /** The SubJob's fuel limit (decimal string). */
  fuelLimit: string;
  /** Program-specific Job parameters (e.g. fedavg-train's graph, key and learning rate); JSON strings only. */
  params?: Record<string, string>;
  context?: RunContext;
}

export type ExecutionProvider = 'cuda' | 'cpu';

export interface RunOutput {
  shardIndex: number;
  outputBlobId: BlobId;
  /** sha-256 of the plaintext output matrix: what the node commits to before revealing. Equal to
   * outputBlobId while storage holds plaintext; differs once outputs are stored encrypted. */
  outputDigest: string;
  rows: number;
  cols: number;
  fuelUsed: string;
  executionProvider: ExecutionProvider;
}

export interface VerifyOptions {
  /** 0..1; 1 re-executes every row. */
  sampleRate: number;
  /** Makes the sample reproducible (e.g. the verify activity's id); never chosen by the node. */
  seed: string;
  /** Defaults to the program's tolerance. */
  tolerance?: number;
}

export interface VerifyInput {
  shard: ShardRef;
  modelBlobId: BlobId;
  fuelLimit: string;
  claimed: Pick<RunOutput, 'outputBlobId' | 'fuelUsed'>;
  options: VerifyOptions;
  /** Program-specific Job parameters (e.g. fedavg-train's graph, key and learning rate); JSON strings only. */
  params?: Record<string, string>;
  /**
   * The output's values as the requester's keyholder decrypted them, for programs whose outputs
   * are encrypted to the requester (fedavg-train): the verifier compares its recomputation to these.
   */
  claimedValues?: ArrayLike<number>;
  context?: RunContext;
}

export interface RowMismatch {
  /** Row index in the whole dataset. */
  row: number;
  /** Row index within the shard. */
  shardRow: number;
  diff: number;
}

export interface VerifyVerdict {
  ok: boolean;
  /** Why it was rejected, naming the first offending row; absent when ok. */
  reason?: string;
  rowsChecked: number;
  rowsTotal: number;
  /** Largest absolute difference seen over the checked rows (Infinity for NaN disagreements). */
  worstDiff: number;
  /** Dataset row of worstDiff, or null when nothing was compared. */
  worstRow: number | null;
  /** The first mismatching rows (at most MAX_REPORTED_MISMATCHES), to keep the verdict small. */
  mismatches: RowMismatch[];
  fuelExpected: string;
  fuelClaimed: string;
  tolerance: number;
}

export const MAX_REPORTED_MISMATCHES = 16;

export interface SubJobOutputRef {
  /** The SubJob index this output belongs to. */
  index: number;
  outputBlobId: BlobId;
  /** The SubJob's weight in a weighted aggregate (fedavg-train: its shard's rows, from the split, never from the node). */
  weight?: number;
}

export interface AggregateInput {
  /** One per SubJob, indices 0..n-1 each exactly once. */
  outputs: SubJobOutputRef[];
  context?: RunContext;
}

export interface AggregateOutput {
  resultBlobId: BlobId;
  rows: number;
  cols: number;
}

/** What the gateway hands a program to inspect at submit, before it accepts the Job. */
export interface InspectInput {
  datasetBlobId: BlobId;
  modelBlobId?: BlobId;
  /** The program's run parameters (as nodes will get them). */
  params?: Record<string, string>;
}

export interface InspectReport {
  rows: number;
  cols: number;
}

/**
 * A Job that cannot run, found at submit: `field` names the request field at fault (dataset, model,
 * trainGraph, …) and the message says what is wrong and what to do.
 */
export class InspectionError extends EmethError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('JOB_CANNOT_RUN', message);
  }
}

/** What every program module implements; activities are built from it. */
export interface ProgramModule {
  readonly spec: ProgramSpec;
  /**
   * Checks at submit that the Job can run: the model parses and its ops are ones this program runs
   * and meters, its inputs match the dataset, the dataset parses. Throws InspectionError.
   */
  inspect(input: InspectInput): Promise<InspectReport>;
  split(input: SplitInput): Promise<SplitOutput>;
  run(input: RunInput): Promise<RunOutput>;
  verify(input: VerifyInput): Promise<VerifyVerdict>;
  aggregate(input: AggregateInput): Promise<AggregateOutput>;
  /** Frees native resources (sessions); the module is unusable afterwards. */
  close(): Promise<void>;
}
