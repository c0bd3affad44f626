/**
 * Train-step ONNX graphs for fedavg-train (ProgramId 2/21), built in code with onnx-proto so the
 * repository ships no binaries and the node needs no builder library: the node receives these
 * bytes as a blob and only runs them.
 *
 * One graph per model kind does everything the program needs:
 *
 *   inputs   params [P]       float32  the whole model as one flat vector (what CKKS encrypts)
 *            data   [N, D+1]  float32  a shard as stored: D features, then the class index (0..C-1)
 *            lr     [1]       float32  learning rate; 0 makes the step an evaluation
 *   outputs  params_out [P]   float32  params − lr × ∇loss (one full-batch gradient-descent step)
 *            loss       [1]   float32  mean cross-entropy of `params` (before the step) on `data`
 *            accuracy   [1]   float32  share of rows whose argmax matches the label, of `params`
 *
 * The graph slices the flat vector into tensors itself and one-hots the label column itself, so
 * the program handles only opaque vectors and the dataset matrix as it was split. Gradients are
 * derived by hand (ONNX has no autodiff): for softmax cross-entropy, ∂loss/∂logits = (p − Y) / N.
 */
import { onnx } from 'onnx-proto';
import { seededRandom } from '../lib/programs';
import { ONNX_IR_VERSION, ONNX_OPSET } from './models';

export type TrainModelKind = 'softmax' | 'mlp';

export interface TrainModelDims {
  /** Features per row (D). */
  features: number;
  classes: number;
  /** Hidden units of the MLP (ignored by softmax regression); default 32. */
  hidden?: number;
}

/** One parameter tensor's place in the flat vector. */
export interface ParamSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** Row-major tensors packed back to back in this order (weights before their bias). */
export function paramLayout(kind: TrainModelKind, dims: TrainModelDims): ParamSlot[] {
  const { features: d, classes: c } = checkDims(dims);
  const h = dims.hidden ?? 32;
  const shapes: [string, number[]][] =
    kind === 'softmax'
      ? [
          ['W', [d, c]],
          ['b', [c]],
        ]
      : [
          ['W1', [d, h]],
          ['b1', [h]],
          ['W2', [h, c]],
          ['b2', [c]],
        ];
  let offset = 0;
  return shapes.map(([name, shape]) => {
    const size = shape.reduce((a, n) => a * n, 1);
    const slot = { name, shape, offset, size };
    offset += size;
    return slot;
  });
}

export function paramCount(kind: TrainModelKind, dims: TrainModelDims): number {
  return paramLayout(kind, dims).reduce((a, s) => a + s.size, 0);
}

/** The flat vector as named tensors (views, no copy). */
export function unflattenParams(
  kind: TrainModelKind,
  dims: TrainModelDims,
  flat: Float32Array,
): Record<string, Float32Array> {
  const layout = paramLayout(kind, dims);
  const p = layout.reduce((a, s) => a + s.size, 0);
  if (flat.length !== p) {
    throw new Error(`a ${kind} model of these dims has ${p} parameters, the vector has ${flat.length}`);
  }
  return Object.fromEntries(layout.map((s) => [s.name, flat.subarray(s.offset, s.offset + s.size)]));
}

/** Named tensors packed into one flat vector in layout order; every tensor must be present and sized. */
export function flattenParams(
  kind: TrainModelKind,
  dims: TrainModelDims,
  tensors: Record<string, ArrayLike<number>>,
): Float32Array {
  const layout = paramLayout(kind, dims);
  const flat = new Float32Array(layout.reduce((a, s) => a + s.size, 0));
  for (const s of layout) {
    const t = tensors[s.name];
    if (!t || t.length !== s.size) {
      throw new Error(
        `tensor ${s.name} needs ${s.size} values (shape ${s.shape.join('×')}), got ${t?.length ?? 'none'}`,
      );
    }
    flat.set(t, s.offset);
  }
  return flat;
}

/**
 * Deterministic initial parameters: softmax regression starts at zero (its loss is convex, and
 * zero gives the textbook ln C starting loss); the MLP needs symmetry broken, so Glorot-uniform
 * weights from a seeded PRNG and zero biases.
 */
export function initialParams(
  kind: TrainModelKind,
  dims: TrainModelDims,
  seed = 'emeth-fedavg',
): Float32Array {
  const layout = paramLayout(kind, dims);
  const flat = new Float32Array(layout.reduce((a, s) => a + s.size, 0));
  if (kind === 'softmax') return flat;
  const rand = seededRandom(seed);
  for (const s of layout) {
    if (s.shape.length !== 2) continue;
    const limit = Math.sqrt(6 / (s.shape[0]! + s.shape[1]!));
    for (let i = 0; i < s.size; i++) flat[s.offset + i] = (rand() * 2 - 1) * limit;
  }
  return flat;
}

// ---------------------------------------------------------------------------------------------
// Graph building

/** Collects nodes and constants; names are unique because every output name is. */
class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];

  op(opType: string, inputs: string[], output: string, attrs: onnx.IAttributeProto[] = []): string {
    this.nodes.push({
      opType,
      input: inputs,
      output: [output],
      name: `${opType}_${output}`,
      attribute: attrs,
    });
    return output;
  }

  ints(name: string, values: number[]): string {
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: values,
    });
    return name;
  }

  floats(name: string, values: number[], dims: number[] = [values.length]): string {
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: values });
    return name;
  }

  /** Slice of the flat params reshaped to the slot's shape. */
  param(slot: ParamSlot): string {
    const flat = this.op(
      'Slice',
      [
        'params',
        this.ints(`${slot.name}_start`, [slot.offset]),
        this.ints(`${slot.name}_end`, [slot.offset + slot.size]),
      ],
      `${slot.name}_flat`,
    );
    if (slot.shape.length === 1) return flat;
    return this.op('Reshape', [flat, this.ints(`${slot.name}_shape`, slot.shape)], slot.name);
  }
}

const intAttr = (name: string, i: number): onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i,
});

/**
 * The train-step graph of `kind` (see the file comment for its inputs and outputs). Deterministic:
 * the same kind and dims always give the same bytes.
 */
export function buildTrainStepModel(kind: TrainModelKind, dims: TrainModelDims): Uint8Array {
  const { features: d, classes: c } = checkDims(dims);
  const layout = paramLayout(kind, dims);
  const p = layout.reduce((a, s) => a + s.size, 0);
  const g = new GraphBuilder();
  const slot = (name: string) => layout.find((s) => s.name === name)!;

  // data → X [N, D] and the one-hot Y [N, C]; N as a float for the means.
  const x = g.op('Slice', ['data', g.ints('x_start', [0]), g.ints('x_end', [d]), g.ints('x_axes', [1])], 'X');
  const labelCol = g.op(
    'Slice',
    ['data', g.ints('y_start', [d]), g.ints('y_end', [d + 1]), g.ints('y_axes', [1])],
    'label_col',
  );
  const labelF = g.op('Reshape', [labelCol, g.ints('flat_shape', [-1])], 'label_f');
  const label = g.op('Cast', [labelF], 'label', [intAttr('to', onnx.TensorProto.DataType.INT64)]);
  const y = g.op('OneHot', [label, g.ints('depth', [c]), g.floats('onehot_values', [0, 1])], 'Y', [
    intAttr('axis', -1),
  ]);
  const nInt = g.op('Gather', [g.op('Shape', [x], 'x_shape'), g.ints('zero_idx', [0])], 'n_int');
  const n = g.op('Cast', [nInt], 'n', [intAttr('to', onnx.TensorProto.DataType.FLOAT)]);

  // Forward.
  const affine = (input: string, w: string, b: string, out: string) =>
    g.op('Add', [g.op('MatMul', [input, g.param(slot(w))], `${out}_mm`), g.param(slot(b))], out);
  let hidden: { pre: string; act: string } | undefined;
  let logits: string;
  if (kind === 'softmax') {
    logits = affine(x, 'W', 'b', 'logits');
  } else {
    const pre = affine(x, 'W1', 'b1', 'h_pre');
    hidden = { pre, act: g.op('Relu', [pre], 'h') };
    logits = affine(hidden.act, 'W2', 'b2', 'logits');
  }
  const logp = g.op('LogSoftmax', [logits], 'logp', [intAttr('axis', -1)]);
  const prob = g.op('Exp', [logp], 'prob');

  // Loss = −Σ Y·log p / N, accuracy = mean(argmax = label).
  const axis0 = g.ints('axis0', [0]);
  const nll = g.op(
    'Neg',
    [g.op('ReduceSum', [g.op('Mul', [y, logp], 'y_logp')], 'sum_y_logp', [intAttr('keepdims', 0)])],
    'nll_sum',
  );
  g.op('Reshape', [g.op('Div', [nll, n], 'loss_scalar'), g.ints('one_shape', [1])], 'loss');
  const pred = g.op('ArgMax', [logits], 'pred', [intAttr('axis', 1), intAttr('keepdims', 0)]);
  const hit = g.op('Cast', [g.op('Equal', [pred, label], 'hit_bool')], 'hit', [
    intAttr('to', onnx.TensorProto.DataType.FLOAT),
  ]);
  g.op('ReduceMean', [hit], 'accuracy', [intAttr('keepdims', 1)]);

  // Backward (hand-derived).
  const dl = g.op('Div', [g.op('Sub', [prob, y], 'p_minus_y'), n], 'dlogits');
  const grads: Record<string, string> = {};
  const linearGrads = (input: string, dOut: string, w: string, b: string) => {
    grads[w] = g.op('MatMul', [g.op('Transpose', [input], `${input}_T`), dOut], `d${w}`);
    grads[b] = g.op('ReduceSum', [dOut, axis0], `d${b}`, [intAttr('keepdims', 0)]);
  };
  if (kind === 'softmax') {
    linearGrads(x, dl, 'W', 'b');
  } else {
    linearGrads(hidden!.act, dl, 'W2', 'b2');
    const w2t = g.op('Transpose', ['W2'], 'W2_T');
    const dh = g.op('MatMul', [dl, w2t], 'dh');
    const zero = g.floats('zero', [0], []);
    const mask = g.op('Cast', [g.op('Greater', [hidden!.pre, zero], 'relu_on')], 'relu_mask', [
      intAttr('to', onnx.TensorProto.DataType.FLOAT),
    ]);
    const dhPre = g.op('Mul', [dh, mask], 'dh_pre');
    linearGrads(x, dhPre, 'W1', 'b1');
  }

  // Flat gradient in layout order, then params − lr × grad.
  const flatGrads = layout.map((s) =>
    s.shape.length === 1
      ? grads[s.name]!
      : g.op('Reshape', [grads[s.name]!, 'flat_shape'], `d${s.name}_flat`),
  );
  const grad = g.op('Concat', flatGrads, 'grad', [intAttr('axis', 0)]);
  g.op('Sub', ['params', g.op('Mul', ['lr', grad], 'lr_grad')], 'params_out');

  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'emeth-examples',
    graph: {
      name: `train_${kind}_${d}_${kind === 'mlp' ? `${dims.hidden ?? 32}_` : ''}${c}`,
      node: g.nodes,
      initializer: g.initializers,
      input: [vector('params', [p]), vector('data', ['N', d + 1]), vector('lr', [1])],
      output: [vector('params_out', [p]), vector('loss', [1]), vector('accuracy', [1])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** A float32 value; string dims are symbolic (the batch). */
function vector(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((v) => (typeof v === 'number' ? { dimValue: v } : { dimParam: v })) },
      },
    },
  };
}

function checkDims(dims: TrainModelDims): Required<Pick<TrainModelDims, 'features' | 'classes'>> {
  const ok = (n: number | undefined) => n === undefined || (Number.isInteger(n) && n >= 1);
  if (!ok(dims.features) || !ok(dims.classes) || !ok(dims.hidden) || dims.classes < 2) {
    throw new Error(
      `model dims must be positive integers with at least 2 classes, got ${JSON.stringify(dims)}`,
    );
  }
  return { features: dims.features, classes: dims.classes };
}
