/**
 * The fuel table: what each accepted ONNX op costs, in work units, from the shapes of its inputs
 * and outputs (and, for tree ensembles and SVMs, from the model's own attributes). An op missing
 * here is refused at submit, so no accepted model runs unmetered. WORK_PER_FUEL units make a fuel
 * (lib/programs.ts); every node also costs one unit per row on top (its launch).
 *
 * The classes, by what dominates the op's time on a GPU or CPU:
 *   contraction   MatMul, Gemm, Conv…: multiply-accumulates (MACs)
 *   recurrent     LSTM, GRU, RNN: gates × T × batch × hidden × (input + hidden) MACs
 *   transcendental Exp, Tanh, Sigmoid, Erf…: 4 per output element
 *   normalising   Softmax, LayerNormalization…: 5 per input element
 *   elementwise   Add, Relu, Cast, Where…: 1 per output element
 *   reduction     ReduceSum, ArgMax…, GlobalAveragePool: 1 per input element
 *   pooling       MaxPool, AveragePool: output elements × kernel size
 *   movement      Transpose, Concat, Gather, Slice, Pad…: 1 per output element
 *   view          Reshape, Flatten, Squeeze, Shape, Constant…: 0 (no data moves)
 *   ai.onnx.ml    LinearClassifier/Regressor: rows × features × targets; TreeEnsemble*: rows ×
 *                 Σ over trees of the tree's depth; SVM*: rows × support vectors × features;
 *                 Scaler, Normalizer, Binarizer, Imputer: 2 per element
 * Pure: no I/O, so the L2, the node and the verifier read the same table.
 */
import type { onnx } from 'onnx-proto';

export type Shape = readonly number[];

export interface NodeShapes {
  /** Shapes of the node's inputs, in order (undefined for an absent optional input). */
  inputs: (Shape | undefined)[];
  /** Shapes of the node's outputs, in order (undefined for an unused optional output). */
  outputs: (Shape | undefined)[];
  attribute(name: string): onnx.IAttributeProto | undefined;
}

export type CostRule = (n: NodeShapes) => number;

export const elements = (s: Shape | undefined): number => (s ? s.reduce((a, d) => a * d, 1) : 0);
const firstIn = (n: NodeShapes) => elements(n.inputs[0]);
const allOut = (n: NodeShapes) => n.outputs.reduce((a, s) => a + elements(s), 0);
const rows = (n: NodeShapes) => (n.inputs[0] && n.inputs[0].length > 0 ? n.inputs[0][0]! : 1);
const features = (n: NodeShapes) => {
  const s = n.inputs[0];
  return s && s.length > 1 ? elements(s.slice(1)) : 1;
};
const ints = (a: onnx.IAttributeProto | undefined): number[] =>
  (a?.ints ?? []).map((v) => (typeof v === 'number' ? v : v.toNumber()));

const perOut =
  (k: number): CostRule =>
  (n) =>
    k * allOut(n);
const perIn =
  (k: number): CostRule =>
  (n) =>
    k * firstIn(n);
const free: CostRule = () => 0;

/** A[…, M, K] × B[…, K, N]: output elements × K. */
const matmul: CostRule = (n) => {
  const a = n.inputs[0];
  const k = a && a.length > 0 ? a[a.length - 1]! : 1;
  return elements(n.outputs[0]) * k;
};

/** Y = αAB + βC: M×N×K MACs plus the bias. */
const gemm: CostRule = (n) => {
  const a = n.inputs[0] ?? [1, 1];
  const transA = n.attribute('transA')?.i;
  const k = (transA && Number(transA) !== 0 ? a[0] : a[1]) ?? 1;
  return elements(n.outputs[0]) * (k + (n.inputs[2] ? 1 : 0));
};

/** Each output element sums C_in/group × kernel products. */
const conv: CostRule = (n) => {
  const w = n.inputs[1];
  const perOutput = w && w.length > 1 ? elements(w.slice(1)) : 1;
  return elements(n.outputs[0]) * perOutput;
};

/** Each input element scatters into C_out/group × kernel outputs. */
const convTranspose: CostRule = (n) => {
  const w = n.inputs[1];
  const perInput = w && w.length > 1 ? elements(w.slice(1)) : 1;
  return elements(n.inputs[0]) * perInput;
};

const pool: CostRule = (n) =>
  elements(n.outputs[0]) * Math.max(1, elements(ints(n.attribute('kernel_shape'))));

/** X [T, B, F] (layout 0): gates × directions × T × B × H × (F + H) MACs. */
const recurrent =
  (gates: number): CostRule =>
  (n) => {
    const x = n.inputs[0] ?? [1, 1, 1];
    const layout = Number(n.attribute('layout')?.i ?? 0);
    const [t, b] = layout === 0 ? [x[0] ?? 1, x[1] ?? 1] : [x[1] ?? 1, x[0] ?? 1];
    const f = x[2] ?? 1;
    const h = Number(n.attribute('hidden_size')?.i ?? 1);
    const directions =
      n.attribute('direction')?.s && Buffer.from(n.attribute('direction')!.s!).toString() === 'bidirectional'
        ? 2
        : 1;
    return gates * directions * t * b * h * (f + h);
  };

/** Rows × features × targets: one dot product per class or target. */
const linearModel =
  (targetsOf: (n: NodeShapes) => number): CostRule =>
  (n) =>
    rows(n) * features(n) * Math.max(1, targetsOf(n));

/** Rows × Σ tree depths: every row walks every tree from its root to a leaf. */
const treeEnsemble: CostRule = (n) => rows(n) * ensembleDepth(n);

/** Σ over trees of the longest root-to-leaf path, from nodes_treeids/nodeids/true-/falsenodeids. */
export function ensembleDepth(n: Pick<NodeShapes, 'attribute'>): number {
  const tree = ints(n.attribute('nodes_treeids'));
  const id = ints(n.attribute('nodes_nodeids'));
  const yes = ints(n.attribute('nodes_truenodeids'));
  const no = ints(n.attribute('nodes_falsenodeids'));
  const modes = (n.attribute('nodes_modes')?.strings ?? []).map((s) => Buffer.from(s).toString());
  const children = new Map<string, number[]>();
  const trees = new Set<number>();
  tree.forEach((t, i) => {
    trees.add(t);
    if (modes[i] !== undefined && modes[i] !== 'LEAF') children.set(`${t}:${id[i]}`, [yes[i]!, no[i]!]);
  });
  let total = 0;
  for (const t of trees) {
    // Iterative depth-first walk; a malformed tree with a cycle is cut at the node count.
    let deepest = 1;
    const stack: [number, number][] = [[0, 1]];
    let steps = 0;
    while (stack.length > 0 && steps++ <= tree.length) {
      const [node, depth] = stack.pop()!;
      deepest = Math.max(deepest, depth);
      for (const c of children.get(`${t}:${node}`) ?? []) stack.push([c, depth + 1]);
    }
    total += deepest;
  }
  return Math.max(1, total);
}

/** Rows × support vectors × features (a kernel per support vector), or × classes for a linear SVM. */
const svm: CostRule = (n) => {
  const vectors = Number(
    n.attribute('vectors_per_class') ? ints(n.attribute('vectors_per_class')).reduce((a, v) => a + v, 0) : 0,
  );
  const f = features(n);
  const linear = (n.attribute('coefficients')?.floats ?? []).length / Math.max(1, f);
  return rows(n) * f * Math.max(1, vectors || linear);
};

const DEFAULT: Record<string, CostRule> = {
  // contraction
  MatMul: matmul,
  MatMulInteger: matmul,
  QLinearMatMul: matmul,
  Gemm: gemm,
  Conv: conv,
  ConvInteger: conv,
  QLinearConv: conv,
  ConvTranspose: convTranspose,
  // recurrent
  LSTM: recurrent(4),
  GRU: recurrent(3),
  RNN: recurrent(1),
  // transcendental
  ...Object.fromEntries(
    [
      'Exp',
      'Log',
      'Sigmoid',
      'Tanh',
      'Erf',
      'Sqrt',
      'Pow',
      'Softplus',
      'Softsign',
      'Gelu',
      'Elu',
      'Selu',
      'Celu',
      'Mish',
      'HardSigmoid',
      'HardSwish',
      'Reciprocal',
      'Sin',
      'Cos',
      'Tan',
      'Asin',
      'Acos',
      'Atan',
      'Sinh',
      'Cosh',
      'Asinh',
      'Acosh',
      'Atanh',
      'ThresholdedRelu',
    ].map((op) => [op, perOut(4)]),
  ),
  // normalising
  ...Object.fromEntries(
    [
      'Softmax',
      'LogSoftmax',
      'Hardmax',
      'LayerNormalization',
      'InstanceNormalization',
      'GroupNormalization',
      'LpNormalization',
      'MeanVarianceNormalization',
      'LRN',
    ].map((op) => [op, perIn(5)]),
  ),
  BatchNormalization: perOut(2),
  // elementwise
  ...Object.fromEntries(
    [
      'Add',
      'Sub',
      'Mul',
      'Div',
      'Mod',
      'Neg',
      'Abs',
      'Relu',
      'LeakyRelu',
      'PRelu',
      'Clip',
      'Max',
      'Min',
      'Sum',
      'Mean',
      'Where',
      'Equal',
      'Less',
      'LessOrEqual',
      'Greater',
      'GreaterOrEqual',
      'And',
      'Or',
      'Xor',
      'Not',
      'Cast',
      'CastLike',
      'Floor',
      'Ceil',
      'Round',
      'Sign',
      'IsNaN',
      'IsInf',
      'BitShift',
      'BitwiseAnd',
      'BitwiseOr',
      'BitwiseXor',
      'BitwiseNot',
      'QuantizeLinear',
      'DequantizeLinear',
      'DynamicQuantizeLinear',
      'Shrink',
    ].map((op) => [op, perOut(1)]),
  ),
  // reduction
  ...Object.fromEntries(
    [
      'ReduceSum',
      'ReduceMean',
      'ReduceMax',
      'ReduceMin',
      'ReduceProd',
      'ReduceL1',
      'ReduceL2',
      'ReduceLogSum',
      'ReduceLogSumExp',
      'ReduceSumSquare',
      'ArgMax',
      'ArgMin',
      'GlobalAveragePool',
      'GlobalMaxPool',
      'GlobalLpPool',
      'CumSum',
    ].map((op) => [op, perIn(1)]),
  ),
  TopK: (n) =>
    firstIn(n) * Math.max(1, Math.ceil(Math.log2(elements(n.outputs[0]) / Math.max(1, rows(n)) + 1))),
  // pooling
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  // movement
  ...Object.fromEntries(
    [
      'Transpose',
      'Concat',
      'Gather',
      'GatherElements',
      'GatherND',
      'Slice',
      'Pad',
      'Tile',
      'Expand',
      'Split',
      'Resize',
      'Upsample',
      'DepthToSpace',
      'SpaceToDepth',
      'ScatterElements',
      'ScatterND',
      'OneHot',
      'Trilu',
      'Range',
      'ConstantOfShape',
      'EyeLike',
      'ReverseSequence',
    ].map((op) => [op, perOut(1)]),
  ),
  // views and metadata
  ...Object.fromEntries(
    ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Shape', 'Size', 'Constant', 'Dropout'].map(
      (op) => [op, free],
    ),
  ),
};

const ML: Record<string, CostRule> = {
  LinearClassifier: linearModel((n) => elements(n.outputs[1]) / Math.max(1, rows(n))),
  LinearRegressor: linearModel((n) => Number(n.attribute('targets')?.i ?? 1)),
  TreeEnsembleClassifier: treeEnsemble,
  TreeEnsembleRegressor: treeEnsemble,
  TreeEnsemble: treeEnsemble,
  SVMClassifier: svm,
  SVMRegressor: svm,
  Scaler: perIn(2),
  Normalizer: perIn(2),
  Binarizer: perIn(2),
  Imputer: perIn(2),
  ArrayFeatureExtractor: perOut(1),
  FeatureVectorizer: perOut(1),
  OneHotEncoder: perOut(1),
};

/** The cost rule of an op, or undefined when onnx-inference has none (the model is refused). */
export function costRuleFor(domain: string, opType: string): CostRule | undefined {
  const table = domain === '' || domain === 'ai.onnx' ? DEFAULT : domain === 'ai.onnx.ml' ? ML : undefined;
  return table && Object.hasOwn(table, opType) ? table[opType] : undefined;
}

/** Every op with a cost rule, by domain, for the README's fuel table and its test. */
export const METERED_OPS: Readonly<Record<string, readonly string[]>> = {
  'ai.onnx': Object.keys(DEFAULT).sort(),
  'ai.onnx.ml': Object.keys(ML).sort(),
};
