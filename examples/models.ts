/**
 * Example ONNX models built in code (onnx-proto), so the repository ships no binaries and needs no
 * download: the same seed always gives the same bytes.
 */
import { onnx } from 'onnx-proto';
import { seededRandom } from '../lib/programs';

export interface MlpOptions {
  inputs?: number;
  hidden?: number;
  classes?: number;
  seed?: string;
}

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/**
 * A classifier MLP: probs = Softmax(Relu(rows·W1 + b1)·W2 + b2), default 32 → 64 → 10, with
 * Glorot-uniform weights from a seeded PRNG. Input "rows" [N, inputs], output "probs" [N, classes].
 */
export function buildMlpModel(options: MlpOptions = {}): Uint8Array {
  const { inputs = 32, hidden = 64, classes = 10, seed = 'emeth-mlp' } = options;
  const rand = seededRandom(seed);
  const glorot = (fanIn: number, fanOut: number) => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    return Float32Array.from({ length: fanIn * fanOut }, () => (rand() * 2 - 1) * limit);
  };
  const small = (n: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * 0.1);

  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'emeth-examples',
    graph: {
      name: `mlp_${inputs}_${hidden}_${classes}`,
      node: [
        node('MatMul', ['rows', 'W1'], ['h1_mm']),
        node('Add', ['h1_mm', 'b1'], ['h1_pre']),
        node('Relu', ['h1_pre'], ['h1']),
        node('MatMul', ['h1', 'W2'], ['logits_mm']),
        node('Add', ['logits_mm', 'b2'], ['logits']),
        node('Softmax', ['logits'], ['probs']),
      ],
      initializer: [
        tensor('W1', [inputs, hidden], glorot(inputs, hidden)),
        tensor('b1', [hidden], small(hidden)),
        tensor('W2', [hidden, classes], glorot(hidden, classes)),
        tensor('b2', [classes], small(classes)),
      ],
      input: [valueInfo('rows', inputs)],
      output: [valueInfo('probs', classes)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function node(opType: string, input: string[], output: string[]): onnx.INodeProto {
  return { opType, input, output, name: `${opType}_${output[0]}` };
}

function tensor(name: string, dims: number[], values: Float32Array): onnx.ITensorProto {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true)); // ONNX raw_data is little-endian
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

/** A float32 [N, width] value with a symbolic batch dimension. */
function valueInfo(name: string, width: number): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: 'N' }, { dimValue: width }] },
      },
    },
  };
}

/**
 * A model that loads, inspects and runs one row like any other but fails on a batch: its Reshape
 * to the fixed shape [1, inputs] fits one row only (an export traced with batch 1, as happens).
 * Submit-time inspection runs one row, so it passes; every executor then fails on a shard. It
 * stands for a requester's model that no executor can run (tests of who pays when it goes wrong).
 */
export function buildBatchTrapModel(inputs = 32): Uint8Array {
  const shape = new Uint8Array(16);
  const view = new DataView(shape.buffer);
  view.setBigInt64(0, 1n, true);
  view.setBigInt64(8, BigInt(inputs), true);
  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'emeth-examples',
    graph: {
      name: `batch_trap_${inputs}`,
      node: [node('Reshape', ['rows', 'shape'], ['out'])],
      initializer: [{ name: 'shape', dims: [2], dataType: onnx.TensorProto.DataType.INT64, rawData: shape }],
      input: [valueInfo('rows', inputs)],
      output: [valueInfo('out', inputs)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
