/**
 * Every fixture model (examples/fixtures, made by the real exporters) × every data format its
 * input fits, with the binding a requester would send and the outputs a local onnxruntime run
 * gave (expected/*.npz). Shared by the program test and the gateway test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readDataset, writeDataset, type DatasetFormat, type Tensor } from '../../lib/tensors';
import { ROOT } from './process';

export const FIXTURES = path.join(ROOT, 'examples', 'fixtures');

interface ManifestModel {
  name: string;
  file: string;
  exporter: string;
  kind: string;
  inputs: Record<string, { dataset: string; array?: string; columns?: string[] }>;
  outputs: string[];
  status: 'run' | 'refuse';
  refusal?: string;
  expected?: string;
}

export interface Manifest {
  models: ManifestModel[];
  datasets: Record<string, { format: string; holds: Record<string, string>; note: string }>;
}

export const manifest = (): Manifest =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as Manifest;

export const fixtureBytes = (rel: string) => new Uint8Array(fs.readFileSync(path.join(FIXTURES, rel)));

export interface FixtureCase {
  /** "<model> × <format>", the test's name. */
  label: string;
  model: string;
  modelBytes: Uint8Array;
  exporter: string;
  format: DatasetFormat;
  dataset: Uint8Array;
  /** The binding the requester sends (absent: by name or the only array that fits). */
  inputs?: Record<string, string | string[]>;
  expected: Tensor[];
}

/** The same rows of a model's dataset in every format that can hold them. */
function variants(
  source: string,
): {
  format: DatasetFormat;
  file?: string;
  bytes?: () => Promise<Uint8Array>;
  inputs?: Record<string, string | string[]>;
}[] {
  switch (source) {
    case 'data/digits-X.npy':
      return [
        { format: 'npy', file: 'data/digits-X.npy' },
        { format: 'npz', file: 'data/digits.npz' },
        { format: 'csv', file: 'data/digits.csv', inputs: { X: 'pixel_*' } },
        { format: 'parquet', file: 'data/digits.parquet', inputs: { X: 'pixel_*' } },
        { format: 'emtx', file: 'data/digits-X.emtx' },
      ];
    case 'data/iris-semicolon.csv': {
      const X = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
      return [
        { format: 'csv', file: 'data/iris-semicolon.csv', inputs: { X } },
        { format: 'parquet', file: 'data/iris.parquet', inputs: { X } },
        { format: 'npy', file: 'data/iris-X-be.npy' },
      ];
    }
    case 'data/multi.npz':
      return [
        { format: 'npz', file: 'data/multi.npz' },
        { format: 'parquet', file: 'data/multi.parquet' },
        { format: 'csv', file: 'data/multi.csv', inputs: { a: 'a_*', b: 'b_*', mask: 'mask_*', h: 'h_*' } },
      ];
    default:
      // Images and sequences ([N, C, H, W], [N, T, F]): .npy as exported, and the same array in an .npz.
      return [
        { format: 'npy', file: source },
        {
          format: 'npz',
          bytes: async () => writeDataset('npz', (await readDataset(fixtureBytes(source))).tensors),
        },
      ];
  }
}

export async function fixtureCases(): Promise<FixtureCase[]> {
  const cases: FixtureCase[] = [];
  for (const m of manifest().models.filter((x) => x.status === 'run')) {
    const source = Object.values(m.inputs)[0]!.dataset;
    const expected = (await readDataset(fixtureBytes(m.expected!))).tensors;
    for (const v of variants(source)) {
      cases.push({
        label: `${m.name} × ${v.format}`,
        model: m.name,
        modelBytes: fixtureBytes(m.file),
        exporter: m.exporter,
        format: v.format,
        dataset: v.file ? fixtureBytes(v.file) : await v.bytes!(),
        ...(v.inputs ? { inputs: v.inputs } : {}),
        expected,
      });
    }
  }
  return cases;
}

/** Refusal keywords of the manifest → what the refusal must say. */
export const REFUSALS: Record<string, RegExp> = {
  ZipMap: /ZipMap.*zipmap=False/,
  Loop: /control flow \(Loop\)/,
  If: /control flow \(If\)/,
  Scan: /control flow \(Scan\)/,
  'custom domain': /op com\.example\.custom:FancyScale, which has no fuel cost model/,
  'external data': /external data/,
};

/** Largest difference of two outputs: |a − b| for floats, 0 or Infinity for integers and booleans. */
export function outputDiff(a: Tensor, b: Tensor): number {
  if (a.dtype !== b.dtype) throw new Error(`output '${a.name}' is ${a.dtype}, expected ${b.dtype}`);
  if (a.shape.join(',') !== b.shape.join(',')) {
    throw new Error(`output '${a.name}' is [${a.shape.join(', ')}], expected [${b.shape.join(', ')}]`);
  }
  const float = ['float16', 'float32', 'float64'].includes(a.dtype);
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) {
    const x = (a.data as ArrayLike<number | bigint>)[i]!;
    const y = (b.data as ArrayLike<number | bigint>)[i]!;
    if (a.dtype === 'float16') {
      if (x !== y) worst = Math.max(worst, Infinity); // same bits or not (a half has no tolerance worth the name)
    } else if (float) {
      const d = Math.abs(Number(x) - Number(y));
      worst = Math.max(
        worst,
        Number.isNaN(d) ? (Number.isNaN(Number(x)) && Number.isNaN(Number(y)) ? 0 : Infinity) : d,
      );
    } else if (x !== y) worst = Infinity;
  }
  return worst;
}
