/**
 * What the node and the verifier must know about an ONNX model before running it: its input
 * width and its cost per row (for fuel). Read straight from the protobuf wire format — a few
 * fields of ModelProto/GraphProto/NodeProto/TensorProto — so that production nodes need no ONNX
 * builder library, and so that both sides derive the same cost from the same bytes.
 */
import { EmethError } from '../../lib/errors';
import type { ModelCost } from '../../lib/programs';

export interface ModelInfo {
  inputName: string;
  /** Width of the input rows (the last dimension of the first graph input), or null if symbolic. */
  inputCols: number | null;
  outputName: string;
  cost: ModelCost;
}

export class ModelFormatError extends EmethError {
  constructor(message: string) {
    super('MODEL_FORMAT', message);
  }
}

interface Field {
  no: number;
  wire: number;
  /** Varint value (wire 0). */
  int?: number;
  /** Bytes (wire 2). */
  bytes?: Uint8Array;
}

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new ModelFormatError('not an ONNX model: truncated protobuf varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new ModelFormatError('not an ONNX model: malformed protobuf varint');
  };
  while (pos < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield { no, wire, int: varint() };
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length)
        throw new ModelFormatError('not an ONNX model: a protobuf field runs past the end');
      yield { no, wire, bytes: buf.subarray(pos, pos + len) };
      pos += len;
    } else throw new ModelFormatError(`not an ONNX model: unsupported protobuf wire type ${wire}`);
  }
}

const text = (b: Uint8Array | undefined) =>
  b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8') : '';

/** Repeated int64 that may be packed (wire 2) or not (wire 0). */
function ints(f: Field): number[] {
  if (f.wire === 0) return [f.int!];
  const out: number[] = [];
  for (const inner of fields(prefixPacked(f.bytes!))) out.push(inner.int!);
  return out;
}

// Re-tags a packed varint run as a sequence of field-1 varints so `fields` can read it.
function prefixPacked(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i]! & 0x80) === 0) {
      out.push(0x08, ...bytes.subarray(start, i + 1));
      start = i + 1;
    }
  }
  return Uint8Array.from(out);
}

interface NodeInfo {
  opType: string;
  inputs: string[];
  name: string;
}

/** Reads the input/output names, input width and per-row cost of a model; throws ModelFormatError. */
export function inspectModel(model: Uint8Array): ModelInfo {
  let graph: Uint8Array | undefined;
  for (const f of fields(model)) if (f.no === 7 && f.bytes) graph = f.bytes;
  if (!graph) throw new ModelFormatError('not an ONNX model: no graph (ModelProto field 7) found');

  const nodes: NodeInfo[] = [];
  const initializers = new Map<string, number[]>();
  const inputs: { name: string; dims: (number | null)[] }[] = [];
  const outputs: string[] = [];
  for (const f of fields(graph)) {
    if (f.no === 1 && f.bytes) nodes.push(readNode(f.bytes));
    else if (f.no === 5 && f.bytes) {
      const t = readTensor(f.bytes);
      initializers.set(t.name, t.dims);
    } else if (f.no === 11 && f.bytes) inputs.push(readValueInfo(f.bytes));
    else if (f.no === 12 && f.bytes) outputs.push(readValueInfo(f.bytes).name);
  }

  // Older exporters list initializers among the inputs too; the data input is the one that is not.
  const input = inputs.find((i) => !initializers.has(i.name));
  if (!input) throw new ModelFormatError('the ONNX graph has no data input (every input is an initializer)');
  if (!outputs[0]) throw new ModelFormatError('the ONNX graph has no output');
  const last = input.dims[input.dims.length - 1];

  let macsPerRow = 0;
  for (const node of nodes) {
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm') continue;
    const weights = initializers.get(node.inputs[1] ?? '');
    if (!weights || weights.length !== 2) {
      throw new ModelFormatError(
        `cannot meter fuel: ${node.opType} node "${node.name || node.inputs.join(',')}" has no constant 2-D weight; ` +
          'onnx-inference meters rows × Σ(K×N) of MatMul/Gemm weights, so weights must be initializers',
      );
    }
    macsPerRow += weights[0]! * weights[1]!; // K×N, whichever way transB lays it out
  }
  return {
    inputName: input.name,
    inputCols: last ?? null,
    outputName: outputs[0],
    cost: { macsPerRow, nodes: nodes.length },
  };
}

function readNode(buf: Uint8Array): NodeInfo {
  const node: NodeInfo = { opType: '', inputs: [], name: '' };
  for (const f of fields(buf)) {
    if (f.no === 1) node.inputs.push(text(f.bytes));
    else if (f.no === 3) node.name = text(f.bytes);
    else if (f.no === 4) node.opType = text(f.bytes);
  }
  return node;
}

function readTensor(buf: Uint8Array): { name: string; dims: number[] } {
  const t = { name: '', dims: [] as number[] };
  for (const f of fields(buf)) {
    if (f.no === 1) t.dims.push(...ints(f));
    else if (f.no === 8) t.name = text(f.bytes);
  }
  return t;
}

// ValueInfoProto{name=1, type=2} → TypeProto{tensor_type=1} → Tensor{shape=2} → Shape{dim=1} → Dim{dim_value=1}
function readValueInfo(buf: Uint8Array): { name: string; dims: (number | null)[] } {
  const v = { name: '', dims: [] as (number | null)[] };
  for (const f of fields(buf)) {
    if (f.no === 1) v.name = text(f.bytes);
    else if (f.no === 2 && f.bytes) {
      for (const tt of fields(f.bytes)) {
        if (tt.no !== 1 || !tt.bytes) continue;
        for (const tf of fields(tt.bytes)) {
          if (tf.no !== 2 || !tf.bytes) continue;
          for (const d of fields(tf.bytes)) {
            if (d.no !== 1 || !d.bytes) continue;
            let value: number | null = null;
            for (const df of fields(d.bytes)) if (df.no === 1 && df.wire === 0) value = df.int!;
            v.dims.push(value);
          }
        }
      }
    }
  }
  return v;
}
