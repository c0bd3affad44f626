// Over 300 lines because it is one format: reading and writing Parquet columns as tensors, with the type mapping both share.
/**
 * Apache Parquet datasets through hyparquet (reading) and hyparquet-writer (writing): pure
 * JavaScript, so no native build. Snappy and uncompressed pages are hyparquet's own; zstd goes
 * through fzstd and gzip through fflate.
 *
 * Each top-level column becomes one tensor: a numeric column [N]; a list column whose rows all hold
 * k numbers (pyarrow's fixed_size_list, e.g. embedding vectors) [N, k]. Nulls, strings, dates and
 * nested lists are refused, naming the column. Written files (shards, results) use the same layout:
 * a 1-D tensor as a numeric column, a 2-D one as a list column, snappy-compressed.
 *
 * Both libraries are published as ES modules only. Node ≥ 20.19 require()s them natively; jest's
 * module loader cannot, so jest.config.js lets its transform compile them to CommonJS.
 */
import { gunzipSync } from 'fflate';
import { decompress as zstdDecompress } from 'fzstd';
import {
  TensorFormatError,
  createTensor,
  float16ToNumber,
  numberToFloat16,
  type DType,
  type Tensor,
} from './tensor';

export const PARQUET_MAGIC = [0x50, 0x41, 0x52, 0x31]; // PAR1

// ------------------------------------------------------------ the parts of hyparquet used here
interface SchemaElement {
  name: string;
  type?: string;
  repetition_type?: string;
  converted_type?: string;
  logical_type?: { type: string; bitWidth?: number; isSigned?: boolean };
  num_children?: number;
}
interface SchemaTree {
  element: SchemaElement;
  children: SchemaTree[];
}
interface FileMetaData {
  num_rows: bigint;
  schema: SchemaElement[];
}
interface ColumnChunk {
  columnName: string;
  columnData: ArrayLike<unknown>;
  rowStart: number;
  rowEnd: number;
}
type Decompressor = (input: Uint8Array, outputLength: number) => Uint8Array;
interface Hyparquet {
  parquetMetadata(buffer: ArrayBuffer): FileMetaData;
  parquetSchema(metadata: FileMetaData): SchemaTree;
  parquetRead(options: {
    file: ArrayBuffer;
    metadata: FileMetaData;
    compressors: Record<string, Decompressor>;
    onChunk: (chunk: ColumnChunk) => void;
  }): Promise<void>;
}
interface HyparquetWriter {
  parquetWriteBuffer(options: {
    columnData: { name: string; data: unknown[] | ArrayLike<unknown> }[];
    schema: SchemaElement[];
    codec?: string;
    statistics?: boolean;
    createdBy?: string;
  }): ArrayBuffer;
}

let reader: Hyparquet | undefined;
let writer: HyparquetWriter | undefined;
const hyparquet = (): Hyparquet => (reader ??= require('hyparquet') as Hyparquet);
const hyparquetWriter = (): HyparquetWriter => (writer ??= require('hyparquet-writer') as HyparquetWriter);

const COMPRESSORS: Record<string, Decompressor> = {
  ZSTD: (input, n) => zstdDecompress(input, new Uint8Array(n)),
  GZIP: (input) => gunzipSync(input),
};

export function isParquet(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && PARQUET_MAGIC.every((b, i) => bytes[i] === b);
}

export interface ParquetReadOptions {
  source?: string;
  /** Read only these columns (default all). */
  columns?: string[];
}

export async function readParquet(bytes: Uint8Array, options: ParquetReadOptions = {}): Promise<Tensor[]> {
  const source = options.source ?? 'the Parquet file';
  const n = bytes.byteLength;
  if (!isParquet(bytes) || n < 12 || !PARQUET_MAGIC.every((b, i) => bytes[n - 4 + i] === b)) {
    throw new TensorFormatError(
      `${source} does not start and end with "PAR1", so it is not a whole Parquet file; upload all of it (e.g. from pyarrow.parquet.write_table)`,
    );
  }
  // hyparquet reads an ArrayBuffer: the input's own when it spans all of it, else a copy of the range.
  const whole =
    bytes.byteOffset === 0 && n === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  const buffer = whole
    ? (bytes.buffer as ArrayBuffer)
    : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n) as ArrayBuffer);
  const hp = hyparquet();
  let metadata: FileMetaData;
  try {
    metadata = hp.parquetMetadata(buffer);
  } catch (err) {
    throw unreadable(source, err);
  }
  const rows = Number(metadata.num_rows);
  const tree = hp.parquetSchema(metadata);
  const wanted = options.columns ?? tree.children.map((c) => c.element.name);
  const plans = wanted.map((name) => {
    const node = tree.children.find((c) => c.element.name === name);
    if (!node) {
      throw new TensorFormatError(
        `${source} has no column '${name}'; it has ${tree.children.map((c) => `'${c.element.name}'`).join(', ')}`,
      );
    }
    return planColumn(node, source);
  });
  const chunks = new Map<string, ColumnChunk[]>(wanted.map((w) => [w, []]));
  try {
    await hp.parquetRead({
      file: buffer,
      metadata,
      compressors: COMPRESSORS,
      onChunk: (c) => chunks.get(c.columnName)?.push(c),
    });
  } catch (err) {
    throw unreadable(source, err);
  }
  return plans.map((plan) => assemble(plan, chunks.get(plan.name)!, rows, source));
}

function unreadable(source: string, err: unknown): TensorFormatError {
  const why = (err as Error).message ?? String(err);
  return new TensorFormatError(
    `${source} could not be read as Parquet (${why}); write it again with pyarrow (snappy, zstd, gzip or no compression)`,
    { cause: err },
  );
}

interface ColumnPlan {
  name: string;
  dtype: DType;
  /** true: a list column, each row an array of k values. */
  list: boolean;
}

function planColumn(node: SchemaTree, source: string): ColumnPlan {
  const name = node.element.name;
  const el = node.element;
  if (node.children.length === 0) return { name, dtype: leafDType(el, name, source), list: false };
  // A LIST column: name (LIST) → list (REPEATED) → element (a leaf).
  const isList = el.converted_type === 'LIST' || el.logical_type?.type === 'LIST';
  const inner = node.children[0];
  const leaf = inner?.children[0];
  if (
    !isList ||
    node.children.length !== 1 ||
    !inner ||
    inner.children.length !== 1 ||
    !leaf ||
    leaf.children.length
  ) {
    throw new TensorFormatError(
      `${source} column '${name}' is a nested or struct column; datasets take numeric columns and lists of numbers, so flatten it`,
    );
  }
  return { name, dtype: leafDType(leaf.element, name, source), list: true };
}

function leafDType(el: SchemaElement, name: string, source: string): DType {
  const logical = el.logical_type;
  const refuse = (what: string) =>
    new TensorFormatError(
      `${source} column '${name}' holds ${what}; datasets take numeric columns only, so drop it or encode it as numbers`,
    );
  if (logical?.type === 'FLOAT16') return 'float16';
  if (logical && logical.type !== 'INTEGER') throw refuse(`${logical.type.toLowerCase()} values`);
  if (el.converted_type && !/^U?INT_(8|16|32|64)$/.test(el.converted_type)) {
    throw refuse(`${el.converted_type.toLowerCase()} values`);
  }
  const bits = logical?.bitWidth ?? Number(/(\d+)$/.exec(el.converted_type ?? '')?.[1] ?? 0);
  const unsigned = logical ? logical.isSigned === false : (el.converted_type ?? '').startsWith('U');
  switch (el.type) {
    case 'FLOAT':
      return 'float32';
    case 'DOUBLE':
      return 'float64';
    case 'BOOLEAN':
      return 'bool';
    case 'INT32':
      if (bits === 8) return unsigned ? 'uint8' : 'int8';
      if (unsigned && bits === 32) return 'int64'; // uint32 fits int64 exactly
      return 'int32'; // int32, int16 and uint16 fit
    case 'INT64':
      return 'int64'; // uint64 values above 2^63 − 1 are refused when read
    default:
      throw refuse(
        el.type === 'BYTE_ARRAY' ? 'text or bytes' : `${(el.type ?? 'group').toLowerCase()} values`,
      );
  }
}

function assemble(plan: ColumnPlan, chunks: ColumnChunk[], rows: number, source: string): Tensor {
  const values: unknown[] = new Array(rows);
  for (const c of chunks) {
    for (let i = 0; i < c.columnData.length && c.rowStart + i < rows; i++)
      values[c.rowStart + i] = c.columnData[i];
  }
  const at = (r: number) => `${source} column '${plan.name}' row ${r + 1}`;
  if (!plan.list) {
    const out = createTensor(plan.name, plan.dtype, [rows]);
    for (let r = 0; r < rows; r++) store(out, r, values[r], at(r));
    return out;
  }
  let k = -1;
  for (let r = 0; r < rows; r++) {
    const v = values[r];
    if (!Array.isArray(v)) throw new TensorFormatError(`${at(r)} is null; fill it or drop the row`);
    if (k < 0) k = v.length;
    else if (v.length !== k) {
      throw new TensorFormatError(
        `${at(r)} holds ${v.length} values but row 1 holds ${k}; a list column becomes an [N, k] array, so every row needs k values`,
      );
    }
  }
  const out = createTensor(plan.name, plan.dtype, [rows, Math.max(k, 0)]);
  for (let r = 0; r < rows; r++) {
    const v = values[r] as unknown[];
    for (let j = 0; j < k; j++) store(out, r * k + j, v[j], `${at(r)} item ${j + 1}`);
  }
  return out;
}

function store(t: Tensor, i: number, v: unknown, where: string): void {
  if (v === null || v === undefined) throw new TensorFormatError(`${where} is null; fill it or drop the row`);
  const d = t.data as unknown as Record<number, number | bigint>;
  switch (t.dtype) {
    case 'int64': {
      const b = typeof v === 'bigint' ? v : BigInt(v as number);
      if (b > 2n ** 63n - 1n)
        throw new TensorFormatError(`${where} is ${b}, beyond int64; datasets hold signed 64-bit integers`);
      d[i] = b;
      return;
    }
    case 'bool':
      d[i] = v ? 1 : 0;
      return;
    case 'float16':
      d[i] = numberToFloat16(v as number);
      return;
    default:
      d[i] = typeof v === 'bigint' ? Number(v) : (v as number);
  }
}

// ------------------------------------------------------------ writing

const PARQUET_TYPE: Record<DType, Omit<SchemaElement, 'name'>> = {
  float16: { type: 'FIXED_LEN_BYTE_ARRAY', logical_type: { type: 'FLOAT16' } },
  float32: { type: 'FLOAT' },
  float64: { type: 'DOUBLE' },
  int32: { type: 'INT32' },
  int64: { type: 'INT64' },
  bool: { type: 'BOOLEAN' },
  // Converted types only: hyparquet-writer 0.17 writes the INTEGER logical type in a form pyarrow
  // refuses ("Couldn't deserialize thrift"); INT_8/UINT_8 mean the same to every reader.
  uint8: { type: 'INT32', converted_type: 'UINT_8' },
  int8: { type: 'INT32', converted_type: 'INT_8' },
};

/** A Parquet file (snappy) of 1-D tensors as columns and 2-D ones as list columns; all share N rows. */
export function writeParquet(tensors: readonly Tensor[]): Uint8Array {
  if (tensors.length === 0)
    throw new TensorFormatError('a Parquet file needs at least one column; pass one or more tensors');
  const rows = tensors[0]!.shape[0];
  const schema: SchemaElement[] = [{ name: 'schema', num_children: tensors.length }];
  const columnData: { name: string; data: unknown[] }[] = [];
  for (const t of tensors) {
    if (t.shape.length !== 1 && t.shape.length !== 2) {
      throw new TensorFormatError(
        `array '${t.name}' has shape [${t.shape.join(', ')}]; Parquet columns hold 1-D or 2-D arrays, so use .npy or .npz`,
      );
    }
    if (t.shape[0] !== rows) {
      throw new TensorFormatError(
        `array '${t.name}' has ${t.shape[0]} rows but '${tensors[0]!.name}' has ${rows}; columns must share rows`,
      );
    }
    const leaf = {
      ...PARQUET_TYPE[t.dtype],
      ...(t.dtype === 'float16' ? { type_length: 2 } : {}),
      repetition_type: 'REQUIRED',
    };
    const scalar = scalars(t);
    if (t.shape.length === 1) {
      schema.push({ name: t.name, ...leaf });
      columnData.push({ name: t.name, data: scalar });
    } else {
      const k = t.shape[1]!;
      schema.push(
        {
          name: t.name,
          repetition_type: 'REQUIRED',
          converted_type: 'LIST',
          logical_type: { type: 'LIST' },
          num_children: 1,
        },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', ...leaf },
      );
      columnData.push({
        name: t.name,
        data: Array.from({ length: rows! }, (_, r) => scalar.slice(r * k, (r + 1) * k)),
      });
    }
  }
  const out = hyparquetWriter().parquetWriteBuffer({
    columnData,
    schema,
    codec: 'SNAPPY',
    createdBy: 'emeth',
  });
  return new Uint8Array(out);
}

function scalars(t: Tensor): unknown[] {
  switch (t.dtype) {
    case 'bool':
      return Array.from(t.data as Uint8Array, (v) => v !== 0);
    case 'float16':
      return Array.from(t.data as Uint16Array, float16ToNumber);
    default:
      return Array.from(t.data as ArrayLike<number | bigint>);
  }
}
