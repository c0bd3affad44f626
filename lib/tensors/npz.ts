/**
 * NumPy's .npz: a zip archive of .npy members, one per array, named "<array>.npy" (np.savez stores
 * them, np.savez_compressed deflates them; both write zip64 headers). Zip handling is fflate's.
 */
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { readNpy, writeNpy } from './npy';
import { TensorFormatError, type Tensor } from './tensor';

export const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // PK\x03\x04
// Zip dates are local times from 1980 on; a fixed local one keeps archives byte-identical for the
// same arrays on any host.
const FIXED_MTIME = new Date(1980, 0, 2, 0, 0, 0);
/** Default cap on the arrays' total size, so a small archive cannot inflate without bound. */
export const DEFAULT_MAX_NPZ_BYTES = 4 * 1024 ** 3;

export interface NpzReadOptions {
  source?: string;
  maxUncompressedBytes?: number;
}

export interface NpzWriteOptions {
  /** Deflate members (np.savez_compressed); default false: stored, as np.savez. */
  compress?: boolean;
}

export function isZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && ZIP_MAGIC.every((b, i) => bytes[i] === b);
}

export function readNpz(bytes: Uint8Array, options: NpzReadOptions = {}): Tensor[] {
  const source = options.source ?? 'the .npz file';
  const max = options.maxUncompressedBytes ?? DEFAULT_MAX_NPZ_BYTES;
  if (!isZip(bytes)) {
    throw new TensorFormatError(
      `${source} does not start with "PK\\x03\\x04": it is not a zip archive, so write it with numpy.savez`,
    );
  }
  let total = 0;
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        total += f.originalSize;
        if (total > max) {
          throw new TensorFormatError(
            `${source} unpacks to more than ${max} bytes; split the arrays over several files`,
          );
        }
        return !f.name.endsWith('/');
      },
    });
  } catch (err) {
    if (err instanceof TensorFormatError) throw err;
    throw new TensorFormatError(
      `${source} is not a readable zip archive (${(err as Error).message}); write it again with numpy.savez or numpy.savez_compressed`,
      { cause: err },
    );
  }
  const names = Object.keys(files);
  if (names.length === 0) {
    throw new TensorFormatError(`${source} holds no arrays; save at least one with numpy.savez(path, X=...)`);
  }
  return names.map((member) => {
    if (!member.endsWith('.npy')) {
      throw new TensorFormatError(
        `${source} holds '${member}', which is not a .npy member; an .npz holds only arrays, so remove it or use numpy.savez`,
      );
    }
    const name = member.slice(0, -4);
    return readNpy(files[member]!, { name, source: `array '${name}' of ${source}` });
  });
}

/** An .npz of the tensors, each stored as "<name>.npy", in the given order. */
export function writeNpz(tensors: readonly Tensor[], options: NpzWriteOptions = {}): Uint8Array {
  if (tensors.length === 0)
    throw new TensorFormatError('an .npz needs at least one array; pass one or more tensors');
  const members: Zippable = {};
  for (const t of tensors) {
    if (!t.name || t.name.includes('/')) {
      throw new TensorFormatError(
        `array name '${t.name}' cannot name an .npz member; use a non-empty name without '/'`,
      );
    }
    const member = `${t.name}.npy`;
    if (member in members) {
      throw new TensorFormatError(`two arrays are named '${t.name}'; an .npz needs distinct names`);
    }
    members[member] = [writeNpy(t), { level: options.compress ? 6 : 0 }];
  }
  return zipSync(members, { mtime: FIXED_MTIME });
}
