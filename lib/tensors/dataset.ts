/**
 * Datasets as named tensors, whatever the file: .npy, .npz, CSV, Parquet or EMTX, told apart by
 * their first bytes or declared by the requester. Shards are row ranges of every tensor, written
 * back in the dataset's own format, so a CSV shard is a CSV with the same header, an .npz shard
 * holds the same arrays, and a Parquet shard the same columns.
 */
import { isEmtx, readEmtx, writeEmtx } from './emtx';
import { decodeText, looksLikeCsvHeader, readCsv, writeCsv } from './csv';
import { isNpy, readNpy, writeNpy } from './npy';
import { isZip, readNpz, writeNpz } from './npz';
import { isParquet, readParquet, writeParquet } from './parquet';
import { TensorFormatError, concatRows, rowCount, sliceRows, type Tensor } from './tensor';

export type DatasetFormat = 'npy' | 'npz' | 'csv' | 'parquet' | 'emtx';
export const DATASET_FORMATS: readonly DatasetFormat[] = ['npy', 'npz', 'csv', 'parquet', 'emtx'];

export interface Dataset {
  format: DatasetFormat;
  /** In file order: .npz members, CSV and Parquet columns; one tensor for .npy and EMTX. */
  tensors: Tensor[];
}

export interface ReadDatasetOptions {
  /** How errors name the file, e.g. "dataset.csv"; default "the dataset". */
  source?: string;
  /** The name of the one array in a .npy or EMTX file (default 'X'). */
  name?: string;
}

export interface WriteDatasetOptions {
  /** .npz: deflate the members (np.savez_compressed). */
  compress?: boolean;
  /** CSV delimiter (default ','). */
  delimiter?: ',' | ';' | '\t';
}

const DESCRIBED: Record<DatasetFormat, string> = {
  npy: 'a NumPy .npy file (it starts with \\x93NUMPY)',
  npz: 'a zip archive such as .npz (it starts with PK\\x03\\x04)',
  parquet: 'a Parquet file (it starts with PAR1)',
  emtx: 'an EMTX matrix (it starts with EMTX)',
  csv: 'CSV text',
};

export function isDatasetFormat(s: string): s is DatasetFormat {
  return (DATASET_FORMATS as readonly string[]).includes(s);
}

/** The format the magic bytes announce, or 'csv' for UTF-8 text with a header row; null for neither. */
export function sniffFormat(bytes: Uint8Array): DatasetFormat | null {
  if (isNpy(bytes)) return 'npy';
  if (isZip(bytes)) return 'npz';
  if (isParquet(bytes)) return 'parquet';
  if (isEmtx(bytes)) return 'emtx';
  // Only the start is decoded: enough to see a header row without reading a large file twice.
  const head = decodeText(trimToCharBoundary(bytes.subarray(0, 64 * 1024)));
  return head !== null && looksLikeCsvHeader(head) ? 'csv' : null;
}

export function detectFormat(bytes: Uint8Array, source = 'the dataset'): DatasetFormat {
  const format = sniffFormat(bytes);
  if (format) return format;
  throw new TensorFormatError(
    `${source} is in no format EMETH reads (not .npy, .npz, Parquet, EMTX, nor UTF-8 CSV with a header row); convert it to one of these`,
  );
}

export async function readDataset(
  bytes: Uint8Array,
  declared?: string,
  options: ReadDatasetOptions = {},
): Promise<Dataset> {
  const source = options.source ?? 'the dataset';
  if (declared !== undefined && !isDatasetFormat(declared)) {
    throw new TensorFormatError(
      `dataset format '${declared}' is not one EMETH reads; declare one of ${DATASET_FORMATS.join(', ')} or leave it out to detect it`,
    );
  }
  const sniffed = sniffFormat(bytes);
  // Binary formats announce themselves; CSV is only "text that parses", so a declared CSV is read
  // as CSV whenever no magic says otherwise, and its reader names what is wrong.
  const magic = sniffed === 'csv' ? null : sniffed;
  if (declared && magic && declared !== magic) {
    throw new TensorFormatError(
      `the dataset is declared '${declared}' but ${source} is ${DESCRIBED[magic]}; declare '${magic}' or upload the ${declared} file`,
    );
  }
  if (declared && declared !== 'csv' && !magic) {
    throw new TensorFormatError(
      `the dataset is declared '${declared}' but ${source} is not ${DESCRIBED[declared]}; declare the format it is in or upload the ${declared} file`,
    );
  }
  const format = declared ?? detectFormat(bytes, source);
  const tensors = await readAs(format, bytes, source, options.name);
  if (tensors.length > 1) datasetRows(tensors, source); // arrays that do not share rows cannot be sharded
  return { format, tensors };
}

async function readAs(
  format: DatasetFormat,
  bytes: Uint8Array,
  source: string,
  name?: string,
): Promise<Tensor[]> {
  switch (format) {
    case 'npy':
      return [readNpy(bytes, { source, name })];
    case 'npz':
      return readNpz(bytes, { source });
    case 'csv':
      return readCsv(bytes, { source }).columns;
    case 'parquet':
      return readParquet(bytes, { source });
    case 'emtx':
      return [readEmtx(bytes, { source, name })];
  }
}

/** The dataset's bytes in `format`; a format that cannot hold the tensors is refused, naming why. */
export function writeDataset(
  format: DatasetFormat,
  tensors: readonly Tensor[],
  options: WriteDatasetOptions = {},
): Uint8Array {
  const one = (what: string) => {
    if (tensors.length !== 1) {
      throw new TensorFormatError(
        `${what} holds one array but there are ${tensors.length} (${tensors.map((t) => `'${t.name}'`).join(', ')}); use .npz for several`,
      );
    }
    return tensors[0]!;
  };
  switch (format) {
    case 'npy':
      return writeNpy(one('.npy'));
    case 'npz':
      return writeNpz(tensors, { compress: options.compress });
    case 'csv':
      return new TextEncoder().encode(writeCsv(tensors, { delimiter: options.delimiter }));
    case 'parquet':
      return writeParquet(tensors);
    case 'emtx':
      return writeEmtx(one('EMTX'));
    default:
      throw new TensorFormatError(
        `dataset format '${String(format)}' is not one EMETH writes; use one of ${DATASET_FORMATS.join(', ')}`,
      );
  }
}

/** The number of rows every tensor shares (their first dimension); tensors that disagree are refused. */
export function datasetRows(tensors: readonly Tensor[], source = 'the dataset'): number {
  if (tensors.length === 0) throw new TensorFormatError(`${source} holds no arrays; it needs at least one`);
  const rows = rowCount(tensors[0]!);
  for (const t of tensors) {
    if (rowCount(t) !== rows) {
      throw new TensorFormatError(
        `${source} array '${t.name}' has ${rowCount(t)} rows but '${tensors[0]!.name}' has ${rows}; every array of a dataset needs one row per sample`,
      );
    }
  }
  return rows;
}

/** Rows [start, end) of every tensor (views), in the same format. */
export function sliceDataset(ds: Dataset, start: number, end: number): Dataset {
  datasetRows(ds.tensors);
  return { format: ds.format, tensors: ds.tensors.map((t) => sliceRows(t, start, end)) };
}

/** Shards joined back in order: the inverse of sliceDataset. Every part must hold the same arrays. */
export function concatDatasets(parts: readonly Dataset[]): Dataset {
  if (parts.length === 0) throw new TensorFormatError('cannot join zero shards; pass at least one');
  const first = parts[0]!;
  const names = first.tensors.map((t) => t.name);
  parts.forEach((p, i) => {
    const these = p.tensors.map((t) => t.name);
    if (p.format !== first.format || these.join('\0') !== names.join('\0')) {
      throw new TensorFormatError(
        `shard ${i} is ${p.format} with arrays ${these.join(', ')} but shard 0 is ${first.format} with ${names.join(', ')}; shards of one dataset must match`,
      );
    }
  });
  return { format: first.format, tensors: names.map((_, k) => concatRows(parts.map((p) => p.tensors[k]!))) };
}

/** Drops a UTF-8 sequence cut by the 64 KiB prefix, so the prefix of valid text is valid text. */
function trimToCharBoundary(b: Uint8Array): Uint8Array {
  let end = b.length;
  let back = 0;
  while (end > 0 && back < 4 && (b[end - 1]! & 0xc0) === 0x80) {
    end--;
    back++;
  }
  if (end > 0 && b[end - 1]! >= 0xc0) {
    const lead = b[end - 1]!;
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    if (back + 1 < need) return b.subarray(0, end - 1);
  }
  return b.subarray(0, b.length);
}
