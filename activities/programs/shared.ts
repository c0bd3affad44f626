/** What every program module needs the same way: cached native resources, shards, checks, log context. */
import { EmethError } from '../../lib/errors';
import { decodeMatrix, encodeMatrix, sliceRows, type Matrix } from '../../lib/matrix';
import type { Logger } from '../../lib/logger';
import {
  InspectionError,
  splitFuelLimit,
  splitRows,
  type BlobId,
  type ModelCost,
  type ProgramSpec,
  type RunContext,
  type ShardRef,
  type SplitInput,
  type SplitOutput,
  type SplitShard,
} from '../../lib/programs';
import type { BlobStore } from '../storage';

/**
 * Native resources (onnxruntime sessions, trainers) opened once per blob id and kept, the least
 * recently used released first; a failed open is forgotten so the next call tries again.
 */
export function lruResources<T extends { release(): Promise<void> }>(
  max: number,
  open: (id: BlobId) => Promise<T>,
): { get(id: BlobId): Promise<T>; releaseAll(): Promise<void> } {
  const cache = new Map<BlobId, Promise<T>>();
  return {
    get(id) {
      const cached = cache.get(id);
      if (cached) {
        cache.delete(id); // re-insert: Map order is the LRU order
        cache.set(id, cached);
        return cached;
      }
      const opening = open(id);
      cache.set(id, opening);
      opening.catch(() => cache.delete(id));
      while (cache.size > max) {
        const [oldest, evicted] = cache.entries().next().value as [BlobId, Promise<T>];
        cache.delete(oldest);
        void evicted.then((r) => r.release()).catch(() => undefined);
      }
      return opening;
    },
    async releaseAll() {
      const open = [...cache.values()];
      cache.clear();
      await Promise.all(open.map((p) => p.then((r) => r.release()).catch(() => undefined)));
    },
  };
}

/** Opens `make()` on first use and shares it; a failed open is retried on the next call. */
export function lazyShared<T>(
  make: () => Promise<T>,
  close: (t: T) => void | Promise<void>,
): { get(): Promise<T>; close(): Promise<void> } {
  let opening: Promise<T> | undefined;
  return {
    get() {
      if (!opening) {
        opening = make();
        opening.catch(() => (opening = undefined));
      }
      return opening;
    },
    async close() {
      const o = opening;
      opening = undefined;
      if (o) await o.then(close).catch(() => undefined);
    },
  };
}

/** A shard's matrix, checked against what its SubJob says it holds. */
export async function loadShard(store: BlobStore, shard: ShardRef): Promise<Matrix> {
  const m = decodeMatrix(await store.get(shard.blobId));
  if (m.rows !== shard.rows || m.cols !== shard.cols) {
    throw new EmethError(
      'SHARD_MISMATCH',
      `shard ${shard.index} (blob ${shard.blobId}) holds ${m.rows}×${m.cols} values but its SubJob says ` +
        `${shard.rows}×${shard.cols}; the split that produced it is inconsistent — split the Job again`,
    );
  }
  return m;
}

/** A module splits only Jobs of its own ProgramId. */
export function assertSplits(spec: ProgramSpec, programId: number): void {
  if (programId !== spec.programId) {
    throw new EmethError(
      'WRONG_PROGRAM',
      `${spec.name} splits Jobs of ProgramId ${spec.programId}, this Job has ${programId}`,
    );
  }
}

export function definedOnly(o: RunContext): RunContext {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** What a split cuts: its rows, values per row, and the stored bytes of any row range (in its own format). */
export interface ShardSource {
  rows: number;
  cols: number;
  shardBytes(rowStart: number, rowEnd: number): Uint8Array;
}

/** A matrix as a ShardSource: each shard an EMTX matrix of its rows. */
export const matrixShards = (m: Matrix): ShardSource => ({
  rows: m.rows,
  cols: m.cols,
  shardBytes: (start, end) => encodeMatrix(sliceRows(m, start, end)),
});

/**
 * The even split every program starts from: rows in order over at most `numParallel` shards, each
 * stored as its own blob, with its share of the fuel limit and the fuel its rows need. Logs the
 * split (with `logFields`) and answers it in the shape every program returns.
 */
export async function splitDataset(args: {
  store: BlobStore;
  spec: ProgramSpec;
  input: SplitInput;
  dataset: ShardSource;
  modelCost: ModelCost;
  fuelRequired: (rows: number, limit: string) => string;
  log: Logger;
  started: number;
  logFields?: Record<string, unknown>;
  message?: string;
}): Promise<SplitOutput> {
  const { store, spec, input, dataset } = args;
  const ranges = splitRows(dataset.rows, input.numParallel);
  const limits = splitFuelLimit(
    input.fuelLimit,
    ranges.map((r) => r.rowEnd - r.rowStart),
  );
  const shards: SplitShard[] = [];
  for (const [index, range] of ranges.entries()) {
    const bytes = dataset.shardBytes(range.rowStart, range.rowEnd);
    const rows = range.rowEnd - range.rowStart;
    shards.push({
      index,
      blobId: await store.put(bytes),
      ...range,
      rows,
      cols: dataset.cols,
      bytes: bytes.byteLength,
      fuelLimit: limits[index]!,
      fuelRequired: args.fuelRequired(rows, limits[index]!),
    });
  }
  args.log.info(
    {
      datasetBlobId: input.datasetBlobId,
      rows: dataset.rows,
      shards: shards.length,
      ...args.logFields,
      ms: Date.now() - args.started,
    },
    args.message ?? 'dataset split',
  );
  return {
    programId: spec.programId,
    subProgramId: spec.subProgramId,
    datasetBlobId: input.datasetBlobId,
    modelBlobId: input.modelBlobId,
    totalRows: dataset.rows,
    cols: dataset.cols,
    modelCost: args.modelCost,
    shards,
  };
}

/**
 * Fuel is metered before a SubJob runs: work past the limit would never be paid, so none is done.
 * `work` says what the fuel pays for, `advice` what the requester can change.
 */
export function assertFuelWithinLimit(
  shard: ShardRef,
  fuel: { exceedsLimit: boolean; required: string },
  fuelLimit: string,
  work = `${shard.rows} rows`,
  advice = "raise the Job's fuelLimit or split it into more SubJobs",
): void {
  if (!fuel.exceedsLimit) return;
  throw new EmethError(
    'FUEL_LIMIT_EXCEEDED',
    `shard ${shard.index} needs ${fuel.required} fuel (${work}) but the SubJob's limit is ${fuelLimit}; ${advice}`,
  );
}

/**
 * Runs one inspection step, turning the program's own refusal (an EmethError) into an
 * InspectionError on `field`, prefixed with what was being read.
 */
export async function inspecting<T>(field: string, what: string, step: () => Promise<T> | T): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof InspectionError) throw err;
    if (err instanceof EmethError || err instanceof Error)
      throw new InspectionError(field, `${what}: ${err.message}`);
    throw err;
  }
}
