// Over 300 lines because it is one format: the CSV reader's tokenizer, the numeric column rules and the writer share their quoting rules.
/**
 * CSV datasets: a header row of column names, then one row per sample of numeric fields.
 *
 * Reading gives one 1-D tensor per column: int64 where every field is an integer, float64 otherwise
 * (NaN and ±Infinity spelled as numpy, pandas or JavaScript write them). The delimiter is ',', ';'
 * or tab, whichever the header row holds most of outside quotes. Fields may be quoted ("1.5").
 * An empty or non-numeric field is refused, naming its row and column: a silent NaN or 0 would
 * change the requester's results without telling them.
 *
 * Writing takes named 1-D ([N]) and 2-D ([N, k]) tensors: a column `name`, or `name_0 … name_{k-1}`.
 * Floats are written in the shortest form that reads back to the same value (float32 as float32).
 */
import { TensorFormatError, createTensor, float16ToNumber, rowCount, type Tensor } from './tensor';

export interface CsvReadOptions {
  /** How errors name the file; default "the CSV". */
  source?: string;
  /** Force a delimiter instead of detecting it. */
  delimiter?: ',' | ';' | '\t';
}

export type CsvColumn = Tensor<'float64'> | Tensor<'int64'>;

export interface CsvTable {
  rows: number;
  delimiter: ',' | ';' | '\t';
  columns: CsvColumn[];
}

const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL: Record<string, number> = {
  nan: NaN,
  '+nan': NaN,
  '-nan': NaN,
  inf: Infinity,
  '+inf': Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-inf': -Infinity,
  '-infinity': -Infinity,
};
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Strict UTF-8 text of the bytes (BOM dropped), or null when they are not text. */
export function decodeText(bytes: Uint8Array): string | null {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (text.includes('\0')) return null; // binary, not text
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    return null;
  }
}

/** Splits one record starting at `pos`; returns its fields and where the next record starts. */
function parseRecord(
  text: string,
  pos: number,
  delimiter: string,
  where: () => string,
): { fields: string[]; next: number } {
  const fields: string[] = [];
  let i = pos;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) {
          throw new TensorFormatError(
            `${where()} opens a quote that is never closed; close it with '"' or remove it`,
          );
        }
        field += text.slice(i, q);
        if (text[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      if (i < text.length && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') {
        throw new TensorFormatError(
          `${where()} has text after a closing quote; quote the whole field or none of it`,
        );
      }
    } else {
      let j = i;
      while (j < text.length && text[j] !== delimiter && text[j] !== '\n' && text[j] !== '\r') j++;
      field = text.slice(i, j);
      i = j;
    }
    fields.push(field);
    if (text[i] === delimiter) {
      i++;
      continue;
    }
    if (text[i] === '\r' && text[i + 1] === '\n') i += 2;
    else if (i < text.length) i++; // '\n' or a lone '\r'
    return { fields, next: i };
  }
}

/** The delimiter the first line holds most of outside quotes (',' when none). */
export function detectDelimiter(text: string): ',' | ';' | '\t' {
  const counts = { ',': 0, ';': 0, '\t': 0 };
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '\n' || c === '\r')) break;
    else if (!quoted && c in counts) counts[c as keyof typeof counts]++;
  }
  if (counts[';'] > counts[','] && counts[';'] >= counts['\t']) return ';';
  if (counts['\t'] > counts[',']) return '\t';
  return ',';
}

/** Whether `text` looks like a CSV with a header row: used by format detection. */
export function looksLikeCsvHeader(text: string): boolean {
  const delimiter = detectDelimiter(text);
  try {
    const { fields } = parseRecord(text, 0, delimiter, () => 'the header row');
    return (
      fields.length > 0 && fields.every((f) => f.trim() !== '') && !fields.every((f) => isNumber(f.trim()))
    );
  } catch {
    return false;
  }
}

function isNumber(s: string): boolean {
  return INT.test(s) || FLOAT.test(s) || s.toLowerCase() in SPECIAL;
}

export function readCsv(input: Uint8Array | string, options: CsvReadOptions = {}): CsvTable {
  const source = options.source ?? 'the CSV';
  const text = typeof input === 'string' ? input.replace(/^\uFEFF/, '') : decodeText(input);
  if (text === null) {
    throw new TensorFormatError(
      `${source} is not UTF-8 text, so it is no CSV; export it as UTF-8 CSV with a header row`,
    );
  }
  if (text.trim() === '') {
    throw new TensorFormatError(
      `${source} is empty; it needs a header row of column names and one row per sample`,
    );
  }
  const delimiter = options.delimiter ?? detectDelimiter(text);
  let line = 1;
  const header = parseRecord(text, 0, delimiter, () => `${source} line 1 (the header)`);
  const names = header.fields.map((f) => f.trim());
  names.forEach((n, c) => {
    if (n === '') {
      throw new TensorFormatError(
        `${source} header column ${c + 1} has no name; name every column in the first row`,
      );
    }
    if (isNumber(n) && names.every((m) => isNumber(m))) {
      throw new TensorFormatError(
        `${source} starts with a row of numbers, not column names; add a header row naming each column`,
      );
    }
  });
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n))
      throw new TensorFormatError(`${source} names column '${n}' twice; give every column its own name`);
    seen.add(n);
  }

  const raw: string[][] = names.map(() => []);
  let pos = header.next;
  let row = 0;
  while (pos < text.length) {
    line++;
    // Line numbers count physical lines, which quoted fields never span here (numbers hold no newlines).
    const at = `${source} row ${row + 1} (line ${line})`;
    const { fields, next } = parseRecord(text, pos, delimiter, () => at);
    pos = next;
    if (fields.length === 1 && fields[0]!.trim() === '') {
      // A blank line: fine at the end of the file (trailing newlines), an error in the middle.
      if (text.slice(pos).trim() === '') break;
      if (names.length > 1)
        throw new TensorFormatError(`${at} is blank; remove the empty line or fill the row`);
    }
    if (fields.length !== names.length) {
      throw new TensorFormatError(
        `${at} has ${fields.length} fields but the header has ${names.length} columns; give every row one field per column`,
      );
    }
    fields.forEach((f, c) => raw[c]!.push(f));
    row++;
  }
  if (row === 0) {
    throw new TensorFormatError(`${source} has a header but no rows; add one row per sample`);
  }
  const columns = names.map((name, c) => parseColumn(name, raw[c]!, source));
  return { rows: row, delimiter, columns };
}

function parseColumn(name: string, fields: string[], source: string): CsvColumn {
  const trimmed = fields.map((f) => f.trim());
  let allInts = true;
  trimmed.forEach((f, r) => {
    const at = `${source} row ${r + 1} (line ${r + 2}) column '${name}'`;
    if (f === '') throw new TensorFormatError(`${at} is empty; fill it or drop the row`);
    if (INT.test(f)) {
      // Up to 18 digits always fit int64; only longer ones need the exact check.
      if (f.replace(/^[+-]/, '').length > 18) {
        const v = BigInt(f);
        if (v < INT64_MIN || v > INT64_MAX) allInts = false; // too big for int64: read as float64
      }
      return;
    }
    allInts = false;
    if (!FLOAT.test(f) && !(f.toLowerCase() in SPECIAL)) {
      throw new TensorFormatError(
        `${at} holds '${f.length > 40 ? `${f.slice(0, 40)}…` : f}', which is not a number; datasets take numeric columns only, so encode or drop it`,
      );
    }
  });
  if (allInts) {
    return createTensor(
      name,
      'int64',
      [trimmed.length],
      BigInt64Array.from(trimmed, (f) => BigInt(f)),
    );
  }
  return createTensor(
    name,
    'float64',
    [trimmed.length],
    Float64Array.from(trimmed, (f) => SPECIAL[f.toLowerCase()] ?? Number(f)),
  );
}

/**
 * Chosen 1-D columns side by side as one [N, k] tensor (default float32, as models take them;
 * float64 keeps every value). Columns are found by name; a missing one is refused, naming those there are.
 */
export function stackColumns(
  columns: readonly Tensor[],
  names: readonly string[] = columns.map((c) => c.name),
  options: { name?: string; dtype?: 'float32' | 'float64' } = {},
): Tensor<'float32'> | Tensor<'float64'> {
  const picked = names.map((n) => {
    const col = columns.find((c) => c.name === n);
    if (!col) {
      throw new TensorFormatError(
        `there is no column '${n}'; the dataset has ${columns.map((c) => `'${c.name}'`).join(', ')}`,
      );
    }
    if (col.shape.length !== 1) {
      throw new TensorFormatError(
        `column '${n}' has shape [${col.shape.join(', ')}]; only 1-D columns can be stacked`,
      );
    }
    return col;
  });
  if (picked.length === 0)
    throw new TensorFormatError('no columns chosen; name at least one column to stack');
  const rows = picked[0]!.shape[0]!;
  for (const c of picked) {
    if (c.shape[0] !== rows) {
      throw new TensorFormatError(
        `column '${c.name}' has ${c.shape[0]} rows but '${picked[0]!.name}' has ${rows}; columns must align`,
      );
    }
  }
  const k = picked.length;
  const dtype = options.dtype ?? 'float32';
  const out = dtype === 'float32' ? new Float32Array(rows * k) : new Float64Array(rows * k);
  picked.forEach((c, j) => {
    for (let r = 0; r < rows; r++) out[r * k + j] = scalarAt(c, r);
  });
  return createTensor(options.name ?? 'X', dtype, [rows, k], out as never) as
    Tensor<'float32'> | Tensor<'float64'>;
}

function scalarAt(t: Tensor, i: number): number {
  const v = t.data[i]!;
  if (typeof v === 'bigint') return Number(v);
  return t.dtype === 'float16' ? float16ToNumber(v) : v;
}

/** CSV text of the tensors as columns (see the file comment); all must have the same number of rows. */
export function writeCsv(tensors: readonly Tensor[], options: { delimiter?: ',' | ';' | '\t' } = {}): string {
  const delimiter = options.delimiter ?? ',';
  if (tensors.length === 0)
    throw new TensorFormatError('a CSV needs at least one column; pass one or more tensors');
  const rows = rowCount(tensors[0]!);
  const header: string[] = [];
  const cells: ((r: number) => string)[] = [];
  for (const t of tensors) {
    if (t.shape.length !== 1 && t.shape.length !== 2) {
      throw new TensorFormatError(
        `output '${t.name}' has shape [${t.shape.join(', ')}]; CSV holds 1-D or 2-D arrays, so download it as .npy or .npz`,
      );
    }
    if (rowCount(t) !== rows) {
      throw new TensorFormatError(
        `output '${t.name}' has ${rowCount(t)} rows but '${tensors[0]!.name}' has ${rows}; CSV columns must share rows, so download as .npz`,
      );
    }
    const k = t.shape.length === 1 ? 1 : t.shape[1]!;
    const fmt = formatter(t);
    for (let j = 0; j < k; j++) {
      header.push(quoteName(t.shape.length === 1 ? t.name : `${t.name}_${j}`, delimiter));
      cells.push((r) => fmt(r * k + j));
    }
  }
  const lines = [header.join(delimiter)];
  for (let r = 0; r < rows; r++) lines.push(cells.map((cell) => cell(r)).join(delimiter));
  return lines.join('\n') + '\n';
}

function quoteName(name: string, delimiter: string): string {
  return /["\r\n]/.test(name) || name.includes(delimiter) || name.trim() !== name
    ? `"${name.replace(/"/g, '""')}"`
    : name;
}

function formatter(t: Tensor): (i: number) => string {
  const d = t.data;
  switch (t.dtype) {
    case 'int64':
      return (i) => (d as BigInt64Array)[i]!.toString();
    case 'float32':
      return (i) => shortestFloat32((d as Float32Array)[i]!);
    case 'float16':
      return (i) => formatFloat(float16ToNumber((d as Uint16Array)[i]!));
    case 'float64':
      return (i) => formatFloat((d as Float64Array)[i]!);
    default:
      return (i) => String((d as Int32Array)[i]!);
  }
}

function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return asFloatText(Object.is(v, -0) ? '-0' : String(v));
}

/** "5" would read back as an integer column: write "5.0", as Python does, so a float column stays float. */
function asFloatText(s: string): string {
  return INT.test(s) ? `${s}.0` : s;
}

/** The shortest decimal that rounds back to this float32 (String() would print the float64 expansion). */
export function shortestFloat32(v: number): string {
  if (!Number.isFinite(v) || v === 0) return formatFloat(v);
  // A float32 lies within 2^-24 (relative) of its shortest decimal, about half a step of 7 digits, so
  // when that decimal has ≤ 7 digits, rounding to 7 and dropping trailing zeros nearly always finds
  // it; otherwise 8 or 9 digits do (9 always round-trips), longer but still exact. Trying 1…9 in turn
  // would be shortest always and twice as slow.
  for (const p of [7, 8, 9]) {
    const n = Number(v.toPrecision(p));
    if (Math.fround(n) === v) return asFloatText(String(n));
  }
  return asFloatText(String(v));
}
