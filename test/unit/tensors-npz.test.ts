import { readFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import { TensorFormatError, createTensor, readNpy, readNpz, writeNpy, writeNpz } from '../../lib/tensors';

const FIXTURES = path.join(__dirname, '../../examples/fixtures/data');
const fixture = (name: string) => new Uint8Array(readFileSync(path.join(FIXTURES, name)));

describe('.npz', () => {
  it('reads numpy.savez (stored, zip64) and numpy.savez_compressed (deflated) archives alike', () => {
    const x = readNpy(fixture('digits-X.npy'));
    const y = readNpy(fixture('digits-y.npy'), { name: 'y' });
    for (const name of ['digits.npz', 'digits-compressed.npz']) {
      const arrays = readNpz(fixture(name));
      expect(arrays.map((a) => [a.name, a.dtype, a.shape])).toEqual([
        ['X', 'float32', [256, 64]],
        ['y', 'int64', [256]],
      ]);
      expect(arrays[0]!.data).toEqual(x.data);
      expect(arrays[1]!.data).toEqual(y.data);
    }
  });

  it('holds members that are exactly numpy.save bytes, and writes them back identically', () => {
    const members = unzipSync(fixture('digits.npz'));
    const written = unzipSync(writeNpz(readNpz(fixture('digits.npz'))));
    expect(Object.keys(written)).toEqual(Object.keys(members));
    for (const k of Object.keys(members))
      expect(Buffer.from(written[k]!).equals(Buffer.from(members[k]!))).toBe(true);
  });

  it('round-trips several arrays of different dtypes and ranks, stored or deflated, deterministically', () => {
    const arrays = [
      createTensor('images', 'float32', [2, 1, 2, 2], Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8])),
      createTensor('label', 'int64', [2], BigInt64Array.from([3n, 9n])),
      createTensor('mask', 'bool', [2], Uint8Array.from([1, 0])),
    ];
    for (const compress of [false, true]) {
      const bytes = writeNpz(arrays, { compress });
      expect(Buffer.from(writeNpz(arrays, { compress })).equals(Buffer.from(bytes))).toBe(true);
      const back = readNpz(bytes);
      expect(back.map((b) => b.name)).toEqual(['images', 'label', 'mask']);
      back.forEach((b, i) => {
        expect(b.shape).toEqual(arrays[i]!.shape);
        expect(b.data).toEqual(arrays[i]!.data);
      });
    }
    const zeros = [createTensor('z', 'float64', [5000])];
    expect(writeNpz(zeros, { compress: true }).length).toBeLessThan(writeNpz(zeros).length / 10);
  });

  it('refuses what is not a readable zip of .npy members, naming the file and what to do', () => {
    const good = fixture('digits-compressed.npz');
    expect(() => readNpz(new TextEncoder().encode('x,y\n1,2\n'), { source: 'd.npz' })).toThrow(
      'd.npz does not start with "PK\\x03\\x04": it is not a zip archive, so write it with numpy.savez',
    );
    expect(() => readNpz(good.subarray(0, good.length - 30), { source: 'd.npz' })).toThrow(
      /^d\.npz is not a readable zip archive \(.+\); write it again with numpy\.savez or numpy\.savez_compressed$/,
    );
    const corrupt = good.slice();
    corrupt.fill(0xaa, 200, 400); // inside the deflated X member
    expect(() => readNpz(corrupt, { source: 'd.npz' })).toThrow(TensorFormatError);
    const notes = zipSync({
      'README.txt': new TextEncoder().encode('hi'),
      'X.npy': writeNpy(createTensor('X', 'int8', [1])),
    });
    expect(() => readNpz(notes, { source: 'd.npz' })).toThrow(
      "d.npz holds 'README.txt', which is not a .npy member; an .npz holds only arrays, so remove it or use numpy.savez",
    );
    expect(() => readNpz(zipSync({ 'X.npy': new Uint8Array([1, 2, 3]) }), { source: 'd.npz' })).toThrow(
      `array 'X' of d.npz does not start with "\\x93NUMPY": it is not a .npy file; write it with numpy.save`,
    );
    const empty = zipSync({});
    expect(() => readNpz(Uint8Array.from([0x50, 0x4b, 0x03, 0x04, ...empty]), { source: 'd.npz' })).toThrow(
      TensorFormatError,
    );
  });

  it('refuses an archive that would unpack beyond the size cap', () => {
    const big = writeNpz([createTensor('z', 'float64', [100_000])], { compress: true });
    expect(() => readNpz(big, { source: 'bomb.npz', maxUncompressedBytes: 1000 })).toThrow(
      'bomb.npz unpacks to more than 1000 bytes; split the arrays over several files',
    );
  });

  it('refuses names an archive cannot hold', () => {
    expect(() => writeNpz([])).toThrow(/at least one array/);
    const a = createTensor('a', 'int8', [1]);
    expect(() => writeNpz([a, a])).toThrow("two arrays are named 'a'; an .npz needs distinct names");
    expect(() => writeNpz([{ ...a, name: 'x/y' }])).toThrow(/cannot name an .npz member/);
  });
});
