/**
 * What the L2, a node and the verifier must know about an ONNX model before running it: its named
 * inputs and outputs (dtype, dims), its nodes (op, domain, attributes) and its initializers — read
 * with onnx-proto, the ONNX schema compiled for protobufjs — and whether onnx-inference may run it
 * at all. Every side reads the same bytes the same way, so they agree on what a model is.
 */
import { onnx } from 'onnx-proto';
import { EmethError } from '../../lib/errors';
import type { DType } from '../../lib/tensors';
import { costRuleFor } from './onnx-fuel-table';

export class ModelFormatError extends EmethError {
  constructor(message: string) {
    super('MODEL_FORMAT', message);
  }
}

/** A graph input or output. */
export interface TensorInfo {
  name: string;
  /** The EMETH dtype, or null when onnx-inference cannot carry the element type (see `elemType`). */
  dtype: DType | null;
  /** ONNX's name for the element type (e.g. "float", "string"), for messages. */
  elemType: string;
  /** Fixed dimensions as numbers, symbolic or unknown ones as null; null rank when the shape is absent. */
  dims: (number | null)[] | null;
  /** False for sequences and maps (a ZipMap output). */
  isTensor: boolean;
}

export interface ModelNode {
  opType: string;
  /** '' (and 'ai.onnx') is the default domain; 'ai.onnx.ml' holds the classic-ML ops. */
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, onnx.IAttributeProto>;
}

export interface ModelInfo {
  /** Data inputs in graph order (initializers listed as inputs by older exporters left out). */
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  nodes: ModelNode[];
  /** Initializer dims by name. */
  initializers: Map<string, number[]>;
  /** Initializer names stored outside the file (ONNX external data). */
  externalData: string[];
}

/** ONNX TensorProto.DataType → EMETH dtype (the ones a dataset and a result can hold). */
const ELEM_TYPES: Record<number, { name: string; dtype: DType | null }> = {
  1: { name: 'float', dtype: 'float32' },
  2: { name: 'uint8', dtype: 'uint8' },
  3: { name: 'int8', dtype: 'int8' },
  4: { name: 'uint16', dtype: null },
  5: { name: 'int16', dtype: null },
  6: { name: 'int32', dtype: 'int32' },
  7: { name: 'int64', dtype: 'int64' },
  8: { name: 'string', dtype: null },
  9: { name: 'bool', dtype: 'bool' },
  10: { name: 'float16', dtype: 'float16' },
  11: { name: 'double', dtype: 'float64' },
  12: { name: 'uint32', dtype: null },
  13: { name: 'uint64', dtype: null },
  14: { name: 'complex64', dtype: null },
  15: { name: 'complex128', dtype: null },
  16: { name: 'bfloat16', dtype: null },
};

/** The ONNX element-type code of an EMETH dtype. */
export const ONNX_ELEM_TYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

/** Ops that carry a subgraph: their cost depends on how often the body runs, which no shape tells. */
const CONTROL_FLOW = new Set(['Loop', 'Scan', 'If', 'SequenceMap']);

export const num = (v: number | { toNumber(): number } | null | undefined): number =>
  v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber();

/** Reads a model's interface, nodes and initializers; throws ModelFormatError if it is not ONNX. */
export function readModel(bytes: Uint8Array): ModelInfo {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ModelFormatError(`not an ONNX model: ${(err as Error).message}`);
  }
  const graph = model.graph;
  if (!graph || ((graph.node ?? []).length === 0 && (graph.output ?? []).length === 0)) {
    throw new ModelFormatError('not an ONNX model: no graph (ModelProto field 7) with nodes and outputs');
  }
  const initializers = new Map<string, number[]>();
  const externalData: string[] = [];
  for (const t of graph.initializer ?? []) {
    initializers.set(t.name ?? '', (t.dims ?? []).map(num));
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) externalData.push(t.name ?? '');
  }
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? '')).map(tensorInfo);
  const outputs = (graph.output ?? []).map(tensorInfo);
  if (inputs.length === 0)
    throw new ModelFormatError('the ONNX graph has no data input (every input is an initializer)');
  if (outputs.length === 0) throw new ModelFormatError('the ONNX graph has no output');
  const nodes = (graph.node ?? []).map((n): ModelNode => ({
    opType: n.opType ?? '',
    domain: n.domain === 'ai.onnx' ? '' : (n.domain ?? ''),
    name: n.name ?? '',
    inputs: n.input ?? [],
    outputs: n.output ?? [],
    attributes: new Map((n.attribute ?? []).map((a) => [a.name ?? '', a])),
  }));
  return { inputs, outputs, nodes, initializers, externalData };
}

function tensorInfo(v: onnx.IValueInfoProto): TensorInfo {
  const name = v.name ?? '';
  const t = v.type;
  if (!t?.tensorType) {
    const kind = t?.sequenceType ? 'a sequence' : t?.mapType ? 'a map' : 'not a tensor';
    return { name, dtype: null, elemType: kind, dims: null, isTensor: false };
  }
  const code = t.tensorType.elemType ?? 0;
  const known = ELEM_TYPES[code] ?? { name: `element type ${code}`, dtype: null };
  const shape = t.tensorType.shape;
  const dims = shape
    ? (shape.dim ?? []).map((d) =>
        d.dimValue !== null && d.dimValue !== undefined && num(d.dimValue) > 0 ? num(d.dimValue) : null,
      )
    : null;
  return { name, dtype: known.dtype, elemType: known.name, dims, isTensor: true };
}

/** `[N, 64]`-style text of dims, N for an unknown one. */
export const describeDims = (dims: readonly (number | null)[] | null): string =>
  dims === null ? '[any shape]' : `[${dims.map((d) => (d === null ? 'N' : String(d))).join(', ')}]`;

/**
 * Refuses what onnx-inference cannot run honestly: weights outside the file (a node would fetch
 * them from who knows where), control flow (its cost is not a function of shapes), ZipMap (its
 * output is a list of dictionaries, not a tensor), ops without a cost model (they would run
 * unmetered) and element types a dataset or result cannot hold. The message names the op or the
 * tensor and says what to change.
 */
export function assertRunnable(model: ModelInfo): void {
  if (model.externalData.length > 0) {
    throw new ModelFormatError(
      `the model keeps initializer "${model.externalData[0]}" as external data (a separate file); save it as one file (onnx.save(model, path, save_as_external_data=False))`,
    );
  }
  for (const node of model.nodes) {
    const where = `node "${node.name || node.outputs[0] || node.opType}"`;
    if (node.opType === 'ZipMap') {
      throw new ModelFormatError(
        `${where} is a ZipMap: its output is a list of dictionaries, not a tensor; export with zipmap=False (skl2onnx: to_onnx(model, X, options={'zipmap': False}))`,
      );
    }
    const hasSubgraph = [...node.attributes.values()].some((a) => a.g || (a.graphs ?? []).length > 0);
    if (CONTROL_FLOW.has(node.opType) || hasSubgraph) {
      throw new ModelFormatError(
        `${where} is control flow (${node.opType}): how much work its body does is not known before it runs, so it cannot be metered; export the model without ${node.opType} (e.g. unroll the loop, or trace it with a fixed length)`,
      );
    }
    if (!costRuleFor(node.domain, node.opType)) {
      const domain = node.domain === '' ? 'ai.onnx' : node.domain;
      throw new ModelFormatError(
        `${where} uses op ${domain}:${node.opType}, which has no fuel cost model in onnx-inference (see the README's fuel table); replace it with supported ops or ask for it to be metered`,
      );
    }
  }
  for (const [kind, list] of [
    ['input', model.inputs],
    ['output', model.outputs],
  ] as const) {
    for (const t of list) {
      if (!t.isTensor) {
        throw new ModelFormatError(
          `the model's ${kind} "${t.name}" is ${t.elemType}, not a tensor; end the graph with tensors (skl2onnx: zipmap=False)`,
        );
      }
      if (t.dtype === null) {
        throw new ModelFormatError(
          `the model's ${kind} "${t.name}" is ${t.elemType}; onnx-inference carries float16, float32, float64, int8, uint8, int32, int64 and bool tensors — cast it to one of these in the graph`,
        );
      }
    }
  }
}

/** A model's interface checked runnable: what the node, the verifier and the L2 all start from. */
export function inspectModel(bytes: Uint8Array): ModelInfo {
  const model = readModel(bytes);
  assertRunnable(model);
  return model;
}
