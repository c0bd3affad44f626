// Over 300 lines because it is one program module: inspect, split, run, verify and aggregate share its session cache, binding and metering rule.
/**
 * onnx-inference (ProgramId 1, SubJobs 11): an ONNX model over the rows of a dataset.
 *   inspect   — at submit: the model is runnable and metered, the dataset parses, its arrays bind
 *               to the model's inputs, one row runs; otherwise 400 naming the field
 *   split     — the dataset into numParallel contiguous shards in its own format (blobs), with
 *               fuel-limit shares
 *   run       — on a node: every row of a shard through the model; the chosen outputs (all by
 *               default) with their names, dtypes and shapes, plus metered fuel
 *   verify    — re-execute a seeded sample of rows and compare every output (floats within the
 *               program's tolerance, integers and booleans exactly)
 *   aggregate — concatenate the SubJob outputs in SubJob order: rows come back in dataset order
 * Outputs are EMTX when an EMTX dataset gives one float32 matrix (the streaming path), .npz
 * otherwise. Everything big moves through the BlobStore; inputs and outputs here are ids and counts.
 */
import type { Logger } from '../../lib/logger';
import { EmethError } from '../../lib/errors';
import { MATRIX_HEADER_BYTES } from '../../lib/matrix';
import {
  MAX_REPORTED_MISMATCHES,
  ONNX_INFERENCE_SPEC,
  ProgramId,
  meterFuel,
  sampleRows,
  type AggregateInput,
  type AggregateOutput,
  type BlobId,
  type ModelCost,
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
import {
  concatDatasets,
  concatRows,
  datasetRows,
  elementCount,
  isEmtx,
  readDataset,
  sliceDataset,
  sliceRows,
  toFloat64,
  writeDataset,
  type Dataset,
  type DatasetFormat,
  type Tensor,
} from '../../lib/tensors';
import type { BlobStore } from '../storage';
import { inspectModel, type ModelInfo, type TensorInfo } from './onnx-model';
import {
  BindingError,
  bindInputs,
  feedsOf,
  rowShapesOf,
  selectOutputs,
  type RequestedInputs,
} from './onnx-binding';
import { firstLine } from './onnx-fuel';
import { DEFAULT_BATCH_SIZE, createOnnxSession, type OnnxSession } from './onnx-runtime';
import {
  assertFuelWithinLimit,
  assertSplits,
  definedOnly,
  lruResources,
  inspecting,
  splitDataset,
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

/** The Job's run parameters as the program reads them (JSON text in a Job's params). */
export interface InferenceParams {
  inputs?: RequestedInputs;
  outputs?: string[];
  datasetFormat?: DatasetFormat;
}

export function inferenceParamsOf(params: Record<string, string> | undefined): InferenceParams {
  const p: InferenceParams = {};
  const json = (field: 'inputs' | 'outputs') => {
    try {
      return JSON.parse(params![field]!) as never;
    } catch {
      throw new InspectionError(field, `${field} is not valid JSON text: ${params![field]!.slice(0, 80)}`);
    }
  };
  if (params?.inputs) p.inputs = json('inputs');
  if (params?.outputs) p.outputs = json('outputs');
  if (params?.datasetFormat) p.datasetFormat = params.datasetFormat as DatasetFormat;
  return p;
}

/** EMTX in and one float32 matrix out stays EMTX (the streaming path); everything else is .npz. */
export function resultFormatOf(datasetFormat: DatasetFormat, outputs: readonly TensorInfo[]): 'emtx' | 'npz' {
  const [only] = outputs;
  return datasetFormat === 'emtx' &&
    outputs.length === 1 &&
    only!.dtype === 'float32' &&
    only!.dims?.length === 2
    ? 'emtx'
    : 'npz';
}

/** Values per row over tensors (the shard's and the output's `cols`). */
const valuesPerRow = (tensors: readonly Tensor[]) =>
  tensors.reduce((a, t) => a + elementCount(t.shape.slice(1)), 0);

/** A prepared shard or dataset: parsed, bound, fed and priced. */
interface Prepared {
  dataset: Dataset;
  rows: number;
  feeds: Record<string, Tensor>;
  outputs: TensorInfo[];
  resultFormat: 'emtx' | 'npz';
  cost: ModelCost;
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

  /** Parses `bytes`, binds its arrays to the model and prices a row: the same on the L2, node and verifier. */
  async function prepare(
    model: ModelInfo,
    session: OnnxSession,
    bytes: Uint8Array,
    p: InferenceParams,
    source: string,
  ): Promise<Prepared> {
    const dataset = await readDataset(bytes, p.datasetFormat, { source });
    const rows = datasetRows(dataset.tensors, source);
    const outputs = selectOutputs(model, p.outputs);
    const feeds = feedsOf(model, dataset.tensors, bindInputs(model, dataset.tensors, p.inputs));
    const cost = await session.costFor(rowShapesOf(feeds));
    return { dataset, rows, feeds, outputs, resultFormat: resultFormatOf(dataset.format, outputs), cost };
  }

  /** A shard as its SubJob describes it, refused (the split's fault) when it holds other rows. */
  async function prepareShard(
    session: OnnxSession,
    shard: ShardRef,
    params: Record<string, string> | undefined,
  ) {
    const prepared = await prepare(
      session.model,
      session,
      await store.get(shard.blobId),
      inferenceParamsOf(params),
      `shard ${shard.index}`,
    );
    if (prepared.rows !== shard.rows) {
      throw new EmethError(
        'SHARD_MISMATCH',
        `shard ${shard.index} (blob ${shard.blobId}) holds ${prepared.rows} rows but its SubJob says ${shard.rows}; split the Job again`,
      );
    }
    return prepared;
  }

  const encodeOutputs = (format: 'emtx' | 'npz', tensors: readonly Tensor[]) => writeDataset(format, tensors);
  const decodeOutputs = async (bytes: Uint8Array, format: 'emtx' | 'npz', outputs: readonly TensorInfo[]) =>
    (await readDataset(bytes, format, { source: 'the output', name: outputs[0]?.name })).tensors;

  return {
    spec,
    sessionFor,

    async inspect(input: InspectInput): Promise<InspectReport> {
      if (!input.modelBlobId)
        throw new InspectionError('model', 'onnx-inference needs a model: the blob id of an ONNX model');
      const bytes = await inspecting('model', `model ${input.modelBlobId}`, () =>
        store.get(input.modelBlobId!),
      );
      const model = await inspecting('model', `model ${input.modelBlobId} cannot run on onnx-inference`, () =>
        inspectModel(bytes),
      );
      // onnxruntime itself must load it: every op known to it, every initializer inside the file.
      const session = await inspecting('model', `onnxruntime cannot load model ${input.modelBlobId}`, () =>
        createOnnxSession(bytes, { preferCuda: false }),
      );
      try {
        const params = inferenceParamsOf(input.params);
        const datasetBytes = await inspecting('dataset', `dataset ${input.datasetBlobId}`, () =>
          store.get(input.datasetBlobId),
        );
        let dataset: Dataset;
        try {
          dataset = await readDataset(datasetBytes, params.datasetFormat, {
            source: `dataset ${input.datasetBlobId}`,
          });
        } catch (err) {
          throw new InspectionError(
            params.datasetFormat ? 'datasetFormat' : 'dataset',
            (err as Error).message,
          );
        }
        const rows = await inspecting('dataset', `dataset ${input.datasetBlobId}`, () =>
          datasetRows(dataset.tensors),
        );
        if (rows === 0) throw new InspectionError('dataset', `dataset ${input.datasetBlobId} has no rows`);
        let feeds: Record<string, Tensor>;
        try {
          selectOutputs(model, params.outputs);
          feeds = feedsOf(model, dataset.tensors, bindInputs(model, dataset.tensors, params.inputs));
        } catch (err) {
          if (err instanceof BindingError) throw new InspectionError(err.field, err.message);
          throw err;
        }
        // One row through the model and its cost probe: a model that cannot run on these rows is refused here.
        const one = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, sliceRows(t, 0, 1)]));
        await inspecting(
          'dataset',
          `model ${input.modelBlobId} cannot run on dataset ${input.datasetBlobId}`,
          async () => {
            await session.costFor(rowShapesOf(feeds));
            await session.run(
              one,
              selectOutputs(model, params.outputs).map((o) => o.name),
            );
          },
        );
        return { rows, cols: valuesPerRow(dataset.tensors) };
      } finally {
        await session.release();
      }
    },

    async split(input: SplitInput): Promise<SplitOutput> {
      assertSplits(spec, input.programId);
      const started = Date.now();
      const session = await sessionFor(input.modelBlobId);
      const prepared = await prepare(
        session.model,
        session,
        await store.get(input.datasetBlobId),
        inferenceParamsOf(input.params),
        `dataset ${input.datasetBlobId}`,
      ).catch((err) => {
        throw new EmethError('SHAPE_MISMATCH', (err as Error).message);
      });
      const { dataset, rows, cost } = prepared;
      // Shards keep the dataset's format: a CSV shard is a CSV with the same header.
      return splitDataset({
        store,
        spec,
        input,
        dataset: {
          rows,
          cols: valuesPerRow(dataset.tensors),
          shardBytes: (start, end) => writeDataset(dataset.format, sliceDataset(dataset, start, end).tensors),
        },
        modelCost: cost,
        fuelRequired: (shardRows, limit) => meterFuel(shardRows, cost, limit).required,
        log: log(),
        started,
        logFields: { format: dataset.format, workPerRow: cost.workPerRow },
      });
    },

    async run(input: RunInput): Promise<RunOutput> {
      const started = Date.now();
      const session = await sessionFor(input.modelBlobId, input.context);
      const params = inferenceParamsOf(input.params);
      const outputs = selectOutputs(session.model, params.outputs);
      const only = session.model.inputs.length === 1 ? session.model.inputs[0]! : undefined;
      let outputBlobId: BlobId;
      let cols: number;
      let fuelUsed: string;
      // The streaming path: an EMTX shard of one float32 matrix, one float32 matrix out.
      const stream =
        store.putStream &&
        only?.dtype === 'float32' &&
        (params.datasetFormat ?? 'emtx') === 'emtx' &&
        resultFormatOf('emtx', outputs) === 'emtx'
          ? await emtxStream(store, input.shard)
          : null;
      if (stream && only) {
        const cost = await session.costFor({ [only.name]: { dtype: 'float32', inner: [input.shard.cols] } });
        const fuel = meterFuel(input.shard.rows, cost, input.fuelLimit);
        assertFuelWithinLimit(input.shard, fuel, input.fuelLimit);
        const streamed: StreamResult = { cols: 0 };
        outputBlobId = await store.putStream!(
          inferShardStream(
            { runBatch: (m) => session.runBatch(m, outputs[0]!.name) },
            stream,
            input.shard,
            batchSize,
            streamed,
          ),
        );
        cols = streamed.cols;
        fuelUsed = fuel.fuelUsed;
      } else {
        const prepared = await prepareShard(session, input.shard, input.params);
        const fuel = meterFuel(input.shard.rows, prepared.cost, input.fuelLimit);
        assertFuelWithinLimit(input.shard, fuel, input.fuelLimit);
        const result = await session.runInBatches(
          prepared.feeds,
          outputs.map((o) => o.name),
          batchSize,
        );
        outputBlobId = await store.put(encodeOutputs(prepared.resultFormat, result));
        cols = valuesPerRow(result);
        fuelUsed = fuel.fuelUsed;
      }
      log(input.context).info(
        {
          shardIndex: input.shard.index,
          rows: input.shard.rows,
          outputs: outputs.map((o) => o.name),
          fuelUsed,
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
        rows: input.shard.rows,
        cols,
        fuelUsed,
        executionProvider: session.provider,
      };
    },

    async verify(input: VerifyInput): Promise<VerifyVerdict> {
      const tolerance = input.options.tolerance ?? spec.tolerance;
      const session = await sessionFor(input.modelBlobId, input.context);
      const prepared = await prepareShard(session, input.shard, input.params);
      const fuelExpected = meterFuel(prepared.rows, prepared.cost, input.fuelLimit).fuelUsed;
      const verdict: VerifyVerdict = {
        ok: false,
        rowsChecked: 0,
        rowsTotal: prepared.rows,
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
          `claimed fuelUsed ${input.claimed.fuelUsed} but ${prepared.rows} rows of this model meter ${fuelExpected}`,
        );
      }
      let claimed: Tensor[];
      try {
        claimed = await decodeOutputs(
          await store.get(input.claimed.outputBlobId),
          prepared.resultFormat,
          prepared.outputs,
        );
      } catch (err) {
        // The node's output is missing, damaged or not in the result format: that is the node's failure.
        return reject(`output blob ${input.claimed.outputBlobId} is unusable: ${firstLine(err)}`);
      }
      const names = prepared.outputs.map((o) => o.name);
      const byName = new Map(claimed.map((t) => [prepared.resultFormat === 'emtx' ? names[0]! : t.name, t]));
      if (claimed.length !== names.length || names.some((n) => !byName.has(n))) {
        return reject(
          `output holds ${claimed.map((t) => `'${t.name}'`).join(', ')}; the Job returns ${names.map((n) => `'${n}'`).join(', ')}`,
        );
      }
      for (const t of claimed) {
        if (t.shape[0] !== prepared.rows) {
          return reject(
            `output '${t.name}' has ${t.shape[0]} rows, the shard has ${prepared.rows} (rows missing or added)`,
          );
        }
      }

      const sample = sampleRows(prepared.rows, input.options.sampleRate, input.options.seed);
      if (sample.length === 0) {
        log(input.context).info(
          { shardIndex: input.shard.index },
          'sample rate 0: only shape and fuel checked',
        );
        return { ...verdict, ok: true };
      }
      const pick = (t: Tensor) =>
        sample.length === prepared.rows ? t : concatRows(sample.map((r) => sliceRows(t, r, r + 1)));
      const feeds = Object.fromEntries(Object.entries(prepared.feeds).map(([k, t]) => [k, pick(t)]));
      const recomputed = await session.runInBatches(feeds, names, batchSize);
      const rowDiff = new Float64Array(sample.length);
      for (const [k, expected] of recomputed.entries()) {
        const got = pick(byName.get(names[k]!)!);
        const inner = (s: readonly number[]) => s.slice(1).join(',');
        if (got.dtype !== expected.dtype || inner(got.shape) !== inner(expected.shape)) {
          return reject(
            `output '${names[k]}' is ${got.dtype}[${got.shape.join(', ')}]; the model produces ${expected.dtype}[N, ${expected.shape.slice(1).join(', ')}]`,
          );
        }
        const exact = !['float16', 'float32', 'float64'].includes(expected.dtype);
        const a = toFloat64(expected);
        const b = toFloat64(got);
        const per = elementCount(expected.shape.slice(1));
        for (let r = 0; r < sample.length; r++) {
          for (let j = r * per; j < (r + 1) * per; j++) {
            const x = a[j]!;
            const y = b[j]!;
            // Equal values (±Infinity included) and NaN against NaN agree; any other NaN or Infinity does not.
            const diff =
              x === y || (Number.isNaN(x) && Number.isNaN(y)) ? 0 : exact ? Infinity : Math.abs(x - y);
            const d = Number.isNaN(diff) ? Infinity : diff;
            if (d > rowDiff[r]!) rowDiff[r] = d;
          }
        }
      }
      let bad = 0;
      const mismatches: RowMismatch[] = [];
      sample.forEach((shardRow, i) => {
        const diff = rowDiff[i]!;
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
          `${bad} of ${sample.length} checked rows differ beyond tolerance ${tolerance} (integers and booleans must match exactly); first: row ${first.row} ` +
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
      const parts: Dataset[] = [];
      for (const o of ordered)
        parts.push(
          await readDataset(await store.get(o.outputBlobId), undefined, { source: `output ${o.index}` }),
        );
      const result = concatDatasets(parts);
      const resultBlobId = await store.put(writeDataset(result.format, result.tensors));
      const rows = datasetRows(result.tensors);
      log(input.context).info(
        { resultBlobId, rows, parts: parts.length, format: result.format },
        'outputs aggregated',
      );
      return { resultBlobId, rows, cols: valuesPerRow(result.tensors) };
    },

    async close() {
      await sessions.releaseAll();
    },
  };
}

/**
 * The shard's stream when it is an EMTX matrix (its size says so and its first bytes agree), with
 * the peeked chunk put back in front; null otherwise (the shard is read whole).
 */
async function emtxStream(store: BlobStore, shard: ShardRef): Promise<AsyncIterable<Uint8Array> | null> {
  if (!store.getStream || shard.bytes !== MATRIX_HEADER_BYTES + shard.rows * shard.cols * 4) return null;
  const iterator = store.getStream(shard.blobId)[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done || !isEmtx(first.value)) {
    await iterator.return?.();
    return null;
  }
  return {
    async *[Symbol.asyncIterator]() {
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    },
  };
}

// Kept next to the module so a reader sees which ProgramIds it serves.
export const ONNX_INFERENCE_PROGRAM_IDS = [
  ProgramId.ONNX_INFERENCE,
  ProgramId.ONNX_INFERENCE_SUBJOB,
] as const;
