/**
 * Which dataset arrays feed which model inputs, and the feeds themselves. A requester may bind
 * inputs by name (`inputs: {"X": "pixels"}`), by a list of columns (`["sepal_length", …]`) or by
 * a column pattern (`"pixel_*"`); without a binding, an array named like the input is taken, and
 * a one-input model takes a dataset's only array, or the one array whose rows fit it. Values are
 * converted to the input's dtype only where nothing is lost in meaning (integers and floats to
 * floats, integers to integers that hold them, booleans to numbers, 0/1 integers to booleans); a
 * float to an integer is refused.
 *
 * The binding is resolved the same way on the L2, the node and the verifier from the same model,
 * dataset and request, so all three feed the model the same tensors.
 */
import {
  allocate,
  createTensor,
  elementCount,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  type DType,
  type Tensor,
} from '../../lib/tensors';
import { EmethError } from '../../lib/errors';
import { describeDims, type ModelInfo, type TensorInfo } from './onnx-model';
import type { RowShapes } from './onnx-fuel';

/** What the requester may send: per model input, an array or column name, a list of columns, or a `*` pattern. */
export type RequestedInputs = Record<string, string | string[]>;

export type InputSource = { array: string } | { columns: string[] };
export type Binding = Record<string, InputSource>;

/** A binding problem: `field` is the request field to fix ('inputs' when the requester bound it, else 'dataset'). */
export class BindingError extends EmethError {
  constructor(
    readonly field: 'inputs' | 'dataset' | 'outputs',
    message: string,
  ) {
    super('BINDING', message);
  }
}

const FLOATS: readonly DType[] = ['float16', 'float32', 'float64'];
const INTS: readonly DType[] = ['int8', 'uint8', 'int32', 'int64'];
const INT_WIDTH: Record<string, number> = { int8: 1, uint8: 1, int32: 4, int64: 8 };

const listNames = (tensors: readonly Tensor[]) => tensors.map((t) => `'${t.name}'`).join(', ');

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** Resolves which arrays or columns feed each model input; refuses, naming the fix, when it cannot tell. */
export function bindInputs(
  model: ModelInfo,
  tensors: readonly Tensor[],
  requested: RequestedInputs = {},
): Binding {
  const inputNames = new Set(model.inputs.map((i) => i.name));
  for (const name of Object.keys(requested)) {
    if (!inputNames.has(name)) {
      throw new BindingError(
        'inputs',
        `inputs names "${name}", which is not an input of the model; its inputs are ${model.inputs.map((i) => `"${i.name}"`).join(', ')}`,
      );
    }
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const binding: Binding = {};
  for (const input of model.inputs) {
    const asked = requested[input.name];
    if (asked !== undefined) binding[input.name] = resolveRequested(input, asked, tensors);
    else if (byName.has(input.name)) binding[input.name] = { array: input.name };
    else binding[input.name] = guess(model, input, tensors);
  }
  return binding;
}

function resolveRequested(
  input: TensorInfo,
  asked: string | string[],
  tensors: readonly Tensor[],
): InputSource {
  const names = tensors.map((t) => t.name);
  if (Array.isArray(asked)) {
    if (asked.length === 0)
      throw new BindingError('inputs', `inputs.${input.name} lists no columns; name at least one`);
    for (const c of asked) {
      if (!names.includes(c)) {
        throw new BindingError(
          'inputs',
          `inputs.${input.name} names column '${c}', which the dataset does not have; it has ${listNames(tensors)}`,
        );
      }
    }
    return { columns: [...asked] };
  }
  if (asked.includes('*')) {
    const re = globToRegExp(asked);
    const matched = names.filter((n) => re.test(n));
    if (matched.length === 0) {
      throw new BindingError(
        'inputs',
        `inputs.${input.name} pattern '${asked}' matches no column; the dataset has ${listNames(tensors)}`,
      );
    }
    return { columns: matched };
  }
  if (!names.includes(asked)) {
    throw new BindingError(
      'inputs',
      `inputs.${input.name} names '${asked}', which the dataset does not have; it has ${listNames(tensors)}`,
    );
  }
  return { array: asked };
}

function guess(model: ModelInfo, input: TensorInfo, tensors: readonly Tensor[]): InputSource {
  const hint = `bind it on the Job: "inputs": {"${input.name}": "<array>"}, a list of columns, or a pattern such as "pixel_*"`;
  if (model.inputs.length > 1) {
    throw new BindingError(
      'dataset',
      `the model's input "${input.name}" has no array of that name in the dataset (it has ${listNames(tensors)}); name the arrays after the inputs or ${hint}`,
    );
  }
  if (tensors.length === 1) return { array: tensors[0]!.name };
  const fits = tensors.filter((t) => fitsInput(input, t.shape));
  if (fits.length === 1) return { array: fits[0]!.name };
  const width = input.dims && input.dims.length === 2 ? input.dims[1] : null;
  const columns = tensors.every((t) => t.shape.length === 1);
  if (columns && width !== null && width === tensors.length) return { columns: tensors.map((t) => t.name) };
  throw new BindingError(
    'dataset',
    `the model's input "${input.name}" takes ${describeDims(input.dims)} and the dataset holds ${tensors.length} arrays or columns (${listNames(tensors).slice(0, 300)}); ${hint}`,
  );
}

function fitsInput(input: TensorInfo, shape: readonly number[]): boolean {
  if (!input.dims) return false;
  if (input.dims.length !== shape.length) return false;
  return input.dims.every((d, i) => i === 0 || d === null || d === shape[i]);
}

/** The tensor fed to each model input for the dataset's rows: stacked, converted and shape-checked. */
export function feedsOf(
  model: ModelInfo,
  tensors: readonly Tensor[],
  binding: Binding,
): Record<string, Tensor> {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const feeds: Record<string, Tensor> = {};
  for (const input of model.inputs) {
    const source = binding[input.name];
    if (!source)
      throw new BindingError('dataset', `the model's input "${input.name}" has no data bound to it`);
    const what =
      'array' in source
        ? `array '${source.array}'`
        : `columns ${source.columns
            .map((c) => `'${c}'`)
            .join(', ')
            .slice(0, 200)}`;
    let t: Tensor =
      'array' in source
        ? byName.get(source.array)!
        : stack(
            source.columns.map((c) => byName.get(c)!),
            input.name,
          );
    // A single column [N] for an input of one value per row [N, 1].
    if (t.shape.length === 1 && input.dims?.length === 2 && input.dims[1] === 1) {
      t = { ...t, shape: [t.shape[0]!, 1] };
    }
    if (input.dims && input.dims.length !== t.shape.length) {
      throw new BindingError(
        'dataset',
        `the model's input "${input.name}" takes ${describeDims(input.dims)} (rank ${input.dims.length}); ${what} is [${t.shape.join(', ')}]`,
      );
    }
    input.dims?.forEach((d, i) => {
      if (i > 0 && d !== null && t.shape[i] !== d) {
        throw new BindingError(
          'dataset',
          `the model's input "${input.name}" takes ${describeDims(input.dims)}; ${what} is [${t.shape.join(', ')}] (dimension ${i} is ${t.shape[i]}, the model needs ${d})`,
        );
      }
    });
    feeds[input.name] = {
      ...convert(t, input.dtype!, `${what} for input "${input.name}"`),
      name: input.name,
    };
  }
  return feeds;
}

/** The per-row shape and dtype of each feed: what fuel is measured on. */
export function rowShapesOf(feeds: Record<string, Tensor>): RowShapes {
  return Object.fromEntries(
    Object.entries(feeds).map(([name, t]) => [name, { dtype: t.dtype, inner: t.shape.slice(1) }]),
  );
}

/** Columns of [N] or [N, k] side by side as [N, Σk], in the first column's dtype family. */
function stack(columns: readonly Tensor[], name: string): Tensor {
  const rows = columns[0]!.shape[0]!;
  const widths = columns.map((c) => {
    if (c.shape.length > 2 || c.shape[0] !== rows) {
      throw new BindingError(
        'dataset',
        `column '${c.name}' is [${c.shape.join(', ')}]; columns stacked into input "${name}" must each be [${rows}] or [${rows}, k]`,
      );
    }
    return c.shape.length === 2 ? c.shape[1]! : 1;
  });
  const width = widths.reduce((a, w) => a + w, 0);
  const anyFloat = columns.some((c) => FLOATS.includes(c.dtype));
  const dtype: DType = anyFloat
    ? 'float64'
    : columns.some((c) => c.dtype === 'int64')
      ? 'int64'
      : columns[0]!.dtype;
  const out = allocate(dtype, rows * width) as unknown as { [i: number]: number | bigint };
  let offset = 0;
  columns.forEach((c, j) => {
    const w = widths[j]!;
    const values = c.dtype === 'float16' ? float16BitsToFloat32(c.data as Uint16Array) : c.data;
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < w; k++) {
        const v = (values as ArrayLike<number | bigint>)[r * w + k]!;
        out[r * width + offset + k] = dtype === 'int64' ? BigInt(v) : Number(v);
      }
    }
    offset += w;
  });
  return createTensor(name, dtype, [rows, width], out as never);
}

/** `t` in `dtype`, refusing a conversion that changes what the values mean. */
export function convert(t: Tensor, dtype: DType, what: string): Tensor {
  if (t.dtype === dtype) return t;
  const from = t.dtype;
  if (dtype === 'bool' && INTS.includes(from)) return intsAsBool(t, what);
  const allowed =
    FLOATS.includes(dtype) || (INTS.includes(dtype) && (INTS.includes(from) || from === 'bool'));
  if (!allowed) {
    throw new BindingError(
      'dataset',
      `${what} holds ${from} values but the model takes ${dtype}; ${FLOATS.includes(from) ? 'floats are not rounded to integers silently — convert the data or the model' : 'convert the data to ' + dtype}`,
    );
  }
  const n = elementCount(t.shape);
  if (dtype === 'float16') {
    const f =
      from === 'int64'
        ? Float32Array.from(t.data as BigInt64Array, Number)
        : Float32Array.from(t.data as ArrayLike<number>);
    return createTensor(t.name, 'float16', t.shape, float32ToFloat16Bits(f));
  }
  const source = from === 'float16' ? float16BitsToFloat32(t.data as Uint16Array) : t.data;
  const out = allocate(dtype, n) as unknown as { [i: number]: number | bigint };
  const lo = dtype === 'int32' ? -(2 ** 31) : dtype === 'int8' ? -128 : dtype === 'uint8' ? 0 : -Infinity;
  const hi = dtype === 'int32' ? 2 ** 31 - 1 : dtype === 'int8' ? 127 : dtype === 'uint8' ? 255 : Infinity;
  for (let i = 0; i < n; i++) {
    const v = (source as ArrayLike<number | bigint>)[i]!;
    if (dtype === 'int64') out[i] = BigInt(v);
    else {
      const x = Number(v);
      if (INT_WIDTH[dtype] && (x < lo || x > hi)) {
        throw new BindingError(
          'dataset',
          `${what}: value ${x} at element ${i} does not fit ${dtype}; the model takes ${dtype}`,
        );
      }
      out[i] = x;
    }
  }
  return createTensor(t.name, dtype, t.shape, out as never);
}

/** 0/1 integers (CSV has no boolean column) as bool; any other value is refused. */
function intsAsBool(t: Tensor, what: string): Tensor {
  const out = new Uint8Array(t.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Number((t.data as ArrayLike<number | bigint>)[i]!);
    if (v !== 0 && v !== 1) {
      throw new BindingError(
        'dataset',
        `${what}: value ${v} at element ${i} is not 0 or 1, so it is no boolean; the model takes bool`,
      );
    }
    out[i] = v;
  }
  return createTensor(t.name, 'bool', t.shape, out);
}

/** The outputs a Job returns: those the requester chose, in the model's order; all by default. */
export function selectOutputs(model: ModelInfo, requested?: readonly string[]): TensorInfo[] {
  if (!requested || requested.length === 0) return model.outputs;
  const names = model.outputs.map((o) => o.name);
  for (const r of requested) {
    if (!names.includes(r)) {
      throw new BindingError(
        'outputs',
        `outputs names "${r}", which the model does not produce; it produces ${names.map((n) => `"${n}"`).join(', ')}`,
      );
    }
  }
  return model.outputs.filter((o) => requested.includes(o.name));
}
