// Over 300 lines because it is one program module: inspect, split, run, verify and aggregate share its session cache and metering rule.
/**
 * onnx-inference (ProgramId 1, SubJobs 11): an ONNX model over the rows of a dataset.
 *   split     — the dataset into numParallel contiguous shards (blobs), with fuel-limit shares
 *   run       — on a node: every row of a shard through the model; output matrix blob + metered fuel
 *   verify    — re-execute a seeded sample of rows and compare within the program's tolerance
 *   aggregate — concatenate the SubJob outputs in SubJob order: the rows come back in dataset order
 * Everything big moves through the BlobStore; the inputs and outputs here are ids and counts.
 */
import type { Logger } from '../../lib/logger';
import { EmethError } from '../../lib/errors';
import {
  concatRows,
  decodeMatrix,
  encodeMatrix,
  pickRows,
  rowMaxAbsDiff,
  type Matrix,
} from '../../lib/matrix';
import {
  MAX_REPORTED_MISMATCHES,
  ONNX_INFERENCE_SPEC,
  ProgramId,
  meterFuel,
  sampleRows,
  type AggregateInput,
  type AggregateOutput,
  type BlobId,
  type ProgramModule,
  type RowMismatch,
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
import type { BlobStore } from '../storage';
import * as ort from 'onnxruntime-node';
import { inspectModel } from './onnx-model';
import { DEFAULT_BATCH_SIZE, createOnnxSession, type OnnxSession } from './onnx-runtime';
import {
  assertFuelWithinLimit,
  assertSplits,
  definedOnly,
  loadShard as loadShardFrom,
  lruResources,
  splitDataset,
  inspecting,
} from './shared';
import { inferShardStream, type StreamResult } from './stream-infer';

export interface OnnxInferenceDeps {
  store: BlobStore;
  logger: Logger;
  /** Rows per onnxruntime call (default 256). */
  batchSize?: number;
  intraOpNumThreads?: number;
  /** False forces CPU (default: CUDA when the host has it). */
  preferCuda?: boolean;
  /** Sessions kept open, one per model blob id, least recently used closed first (default 4). */
  maxSessions?: number;
}

export interface OnnxInferenceProgram extends ProgramModule {
  /** The cached session of a model (opened on first use). */
  sessionFor(modelBlobId: BlobId, context?: RunContext): Promise<OnnxSession>;
}

export function createOnnxInferenceProgram(deps: OnnxInferenceDeps): OnnxInferenceProgram {
  const { store } = deps;
  const batchSize = deps.batchSize ?? DEFAULT_BATCH_SIZE;
  const maxSessions = deps.maxSessions ?? 4;
  const spec = ONNX_INFERENCE_SPEC;
  const log = (context?: RunContext) =>
    deps.logger.child({ program: spec.name, ...definedOnly(context ?? {}) });

  const sessions = lruResources<OnnxSession>(maxSessions, async (modelBlobId) =>
    createOnnxSession(await store.get(modelBlobId), {
      preferCuda: deps.preferCuda,
      intraOpNumThreads: deps.intraOpNumThreads,
      logger: log().child({ modelBlobId }),
    }),
  );
  const sessionFor = (modelBlobId: BlobId, _context?: RunContext) => sessions.get(modelBlobId);
  const loadShard = (shard: ShardRef) => loadShardFrom(store, shard);

  return {
    spec,
    sessionFor,

    async inspect(input: InspectInput): Promise<InspectReport> {
      if (!input.modelBlobId)
        throw new InspectionError('model', 'onnx-inference needs a model: the blob id of an ONNX model');
      const bytes = await inspecting('model', `model ${input.modelBlobId}`, () =>
        store.get(input.modelBlobId!),
      );
      const model = await inspecting(
        'model',
        `model ${input.modelBlobId} is not an ONNX model onnx-inference runs`,
        () => inspectModel(bytes),
      );
      // onnxruntime itself must load it: every op known to it, every initializer inside the file.
      const session = await inspecting('model', `onnxruntime cannot load model ${input.modelBlobId}`, () =>
        ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] }),
      );
      try {
        const output = session.outputMetadata?.find((o) => o.name === model.outputName);
        if (output && output.isTensor && output.type !== 'float32') {
          throw new InspectionError(
            'model',
            `model ${input.modelBlobId}'s output "${model.outputName}" is ${output.type}; onnx-inference returns float32 matrices, so end the graph with a float32 output (e.g. Cast to float)`,
          );
        }
        if (output && !output.isTensor) {
          throw new InspectionError(
            'model',
            `model ${input.modelBlobId}'s output "${model.outputName}" is not a tensor (a ZipMap or sequence); export it without one (skl2onnx: zipmap=False)`,
          );
        }
      } finally {
        await session.release();
      }
      const dataset = await inspecting(
        'dataset',
        `dataset ${input.datasetBlobId} is not an EMTX matrix`,
        async () => decodeMatrix(await store.get(input.datasetBlobId)),
      );
      if (model.inputCols !== null && model.inputCols !== dataset.cols) {
        throw new InspectionError(
          'dataset',
          `the model takes rows of ${model.inputCols} values; dataset ${input.datasetBlobId} has ${dataset.cols} per row`,
        );
      }
      if (dataset.rows === 0)
        throw new InspectionError('dataset', `dataset ${input.datasetBlobId} has no rows`);
      return { rows: dataset.rows, cols: dataset.cols };
    },

    async split(input: SplitInput): Promise<SplitOutput> {
      assertSplits(spec, input.programId);
      const started = Date.now();
      const dataset = decodeMatrix(await store.get(input.datasetBlobId));
      const model = inspectModel(await store.get(input.modelBlobId));
      if (model.inputCols !== null && model.inputCols !== dataset.cols) {
        throw new EmethError(
          'SHAPE_MISMATCH',
          `the model takes rows of ${model.inputCols} values, dataset ${input.datasetBlobId} has ${dataset.cols}`,
        );
      }
      return splitDataset({
        store,
        spec,
        input,
        dataset,
        modelCost: model.cost,
        fuelRequired: (rows, limit) => meterFuel(rows, model.cost, limit).required,
        log: log(),
        started,
      });
    },

    async run(input: RunInput): Promise<RunOutput> {
      const started = Date.now();
      const session = await sessionFor(input.modelBlobId, input.context);
      const fuel = meterFuel(input.shard.rows, session.model.cost, input.fuelLimit);
      assertFuelWithinLimit(input.shard, fuel, input.fuelLimit);
      let outputBlobId: BlobId;
      let output: { rows: number; cols: number };
      if (store.getStream && store.putStream) {
        const streamed: StreamResult = { cols: 0 };
        outputBlobId = await store.putStream(
          inferShardStream(session, store.getStream(input.shard.blobId), input.shard, batchSize, streamed),
        );
        output = { rows: input.shard.rows, cols: streamed.cols };
      } else {
        const result = await session.runRows(await loadShard(input.shard), batchSize);
        outputBlobId = await store.put(encodeMatrix(result));
        output = result;
      }
      log(input.context).info(
        {
          shardIndex: input.shard.index,
          rows: output.rows,
          fuelUsed: fuel.fuelUsed,
          executionProvider: session.provider,
          outputBlobId,
          ms: Date.now() - started,
        },
        'shard inferred',
      );
      return {
        shardIndex: input.shard.index,
        outputBlobId,
        outputDigest: outputBlobId,
        rows: output.rows,
        cols: output.cols,
        fuelUsed: fuel.fuelUsed,
        executionProvider: session.provider,
      };
    },

    async verify(input: VerifyInput): Promise<VerifyVerdict> {
      const tolerance = input.options.tolerance ?? spec.tolerance;
      const session = await sessionFor(input.modelBlobId, input.context);
      const shard = await loadShard(input.shard);
      const fuelExpected = meterFuel(shard.rows, session.model.cost, input.fuelLimit).fuelUsed;
      const verdict: VerifyVerdict = {
        ok: false,
        rowsChecked: 0,
        rowsTotal: shard.rows,
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
          `claimed fuelUsed ${input.claimed.fuelUsed} but ${shard.rows} rows of this model meter ${fuelExpected}`,
        );
      }
      let claimed: Matrix;
      try {
        claimed = decodeMatrix(await store.get(input.claimed.outputBlobId));
      } catch (err) {
        // The node's output is missing, damaged or not a matrix: that is the node's failure.
        return reject(`output blob ${input.claimed.outputBlobId} is unusable: ${(err as Error).message}`);
      }
      if (claimed.rows !== shard.rows) {
        return reject(`output has ${claimed.rows} rows, the shard has ${shard.rows} (rows missing or added)`);
      }

      const sample = sampleRows(shard.rows, input.options.sampleRate, input.options.seed);
      if (sample.length === 0) {
        log(input.context).info(
          { shardIndex: input.shard.index },
          'sample rate 0: only shape and fuel checked',
        );
        return { ...verdict, ok: true };
      }
      const recomputed = await session.runRows(pickRows(shard, sample), batchSize);
      if (claimed.cols !== recomputed.cols) {
        return reject(`output rows have ${claimed.cols} values, the model produces ${recomputed.cols}`);
      }
      const diffs = rowMaxAbsDiff(recomputed, pickRows(claimed, sample));
      let bad = 0;
      const mismatches: RowMismatch[] = [];
      sample.forEach((shardRow, i) => {
        const diff = diffs[i]!;
        const row = input.shard.rowStart + shardRow;
        if (diff > verdict.worstDiff || verdict.worstRow === null) {
          verdict.worstDiff = diff;
          verdict.worstRow = row;
        }
        if (!(diff <= tolerance)) {
          bad++;
          if (mismatches.length < MAX_REPORTED_MISMATCHES) mismatches.push({ row, shardRow, diff });
        }
      });
      verdict.rowsChecked = sample.length;
      verdict.mismatches = mismatches;
      if (bad > 0) {
        const first = mismatches[0]!;
        return reject(
          `${bad} of ${sample.length} checked rows differ beyond tolerance ${tolerance}; first: row ${first.row} ` +
            `(shard row ${first.shardRow}) differs by ${first.diff}`,
        );
      }
      log(input.context).info(
        { shardIndex: input.shard.index, rowsChecked: sample.length, worstDiff: verdict.worstDiff },
        'result verified',
      );
      return { ...verdict, ok: true };
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
      const parts: Matrix[] = [];
      for (const o of ordered) parts.push(decodeMatrix(await store.get(o.outputBlobId)));
      const result = concatRows(parts);
      const resultBlobId = await store.put(encodeMatrix(result));
      log(input.context).info({ resultBlobId, rows: result.rows, parts: parts.length }, 'outputs aggregated');
      return { resultBlobId, rows: result.rows, cols: result.cols };
    },

    async close() {
      await sessions.releaseAll();
    },
  };
}

// Kept next to the module so a reader sees which ProgramIds it serves.
export const ONNX_INFERENCE_PROGRAM_IDS = [
  ProgramId.ONNX_INFERENCE,
  ProgramId.ONNX_INFERENCE_SUBJOB,
] as const;
