/**
 * A model's fuel per row, from the shapes its own graph gives every intermediate tensor: the model
 * is run once on one all-zero row with every node output exposed (a "probe"), onnxruntime's shape
 * logic fills in each tensor's shape, and the fuel table (onnx-fuel-table.ts) prices each node
 * from them. Shapes of the supported ops never depend on values (value-dependent ones such as
 * NonZero have no cost rule and are refused), so zeros give the shapes of any row; the L2, the
 * node and the verifier each compute the same cost from the same bytes and row shape.
 */
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { EmethError } from '../../lib/errors';
import type { ModelCost } from '../../lib/programs';
import { allocate, type DType } from '../../lib/tensors';
import { costRuleFor, elements, type Shape } from './onnx-fuel-table';
import { inspectModel, num, type ModelInfo } from './onnx-model';

/** The per-sample shape (dims after the batch dimension) and dtype of each model input. */
export type RowShapes = Record<string, { dtype: DType; inner: readonly number[] }>;

/** The model with every node output also a graph output, so one run reports every tensor's shape. */
export function probeModel(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const exposed = new Set((graph.output ?? []).map((o) => o.name));
  graph.output ??= [];
  for (const node of graph.node ?? []) {
    for (const name of node.output ?? []) {
      if (name && !exposed.has(name)) {
        graph.output.push(onnx.ValueInfoProto.create({ name }));
        exposed.add(name);
      }
    }
  }
  return onnx.ModelProto.encode(model).finish();
}

/** Opens the probe session of a model once; `measure` prices a row shape on it. */
export async function createCostProbe(bytes: Uint8Array, model: ModelInfo) {
  const session = await ort.InferenceSession.create(probeModel(bytes), { executionProviders: ['cpu'] });
  const initializerShapes = new Map<string, Shape>(model.initializers);
  return {
    async measure(rowShapes: RowShapes): Promise<ModelCost> {
      const shapes = new Map<string, Shape>(initializerShapes);
      const feeds: Record<string, ort.Tensor> = {};
      for (const input of model.inputs) {
        const row = rowShapes[input.name];
        if (!row)
          throw new EmethError('UNBOUND_INPUT', `the model's input "${input.name}" has no data bound to it`);
        const dims = [1, ...row.inner];
        feeds[input.name] = new ort.Tensor(row.dtype, allocate(row.dtype, elements(dims)) as never, dims);
        shapes.set(input.name, dims);
      }
      let outputs: ort.InferenceSession.OnnxValueMapType;
      try {
        outputs = await session.run(feeds);
      } catch (err) {
        throw new EmethError(
          'SHAPE_MISMATCH',
          `the model cannot run on rows shaped ${describeRows(rowShapes)}: ${firstLine(err)}`,
        );
      }
      for (const [name, value] of Object.entries(outputs))
        shapes.set(name, (value as ort.Tensor).dims.map(Number));
      let work = 0;
      for (const node of model.nodes) {
        const rule = costRuleFor(node.domain, node.opType)!;
        work += rule({
          inputs: node.inputs.map((n) => (n ? shapes.get(n) : undefined)),
          outputs: node.outputs.map((n) => (n ? shapes.get(n) : undefined)),
          attribute: (name) => node.attributes.get(name),
        });
      }
      if (!Number.isSafeInteger(Math.ceil(work))) {
        throw new EmethError(
          'FUEL_OVERFLOW',
          `one row of this model costs more than 2^53 work units; it cannot be metered`,
        );
      }
      return { workPerRow: Math.ceil(work), nodes: model.nodes.length };
    },
    release: () => session.release(),
  };
}

export type CostProbe = Awaited<ReturnType<typeof createCostProbe>>;

/** The cost per row of a model for rows of these shapes, with a probe opened and closed for it. */
export async function modelCostOf(bytes: Uint8Array, rows: RowShapes): Promise<ModelCost> {
  const probe = await createCostProbe(bytes, inspectModel(bytes));
  try {
    return await probe.measure(rows);
  } finally {
    await probe.release();
  }
}

const describeRows = (rows: RowShapes) =>
  Object.entries(rows)
    .map(([name, r]) => `${name} ${r.dtype}[N${r.inner.map((d) => `, ${d}`).join('')}]`)
    .join(', ');

export const firstLine = (err: unknown) =>
  String((err as Error)?.message ?? err)
    .split('\n')[0]!
    .replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, '');

// Re-exported for callers that read dims from onnx-proto objects.
export { num };
