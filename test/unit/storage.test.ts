import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BlobCorruptError,
  BlobNotFoundError,
  createLocalBlobStore,
  type BlobStore,
} from '../../activities/storage';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('local blob store', () => {
  let dir: string;
  let store: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'emeth-blobs-'));
    store = createLocalBlobStore(dir);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const fileOf = (id: string) => path.join(dir, id.slice(0, 2), id.slice(2, 4), id);

  it('stores bytes under their sha-256 and gives them back', async () => {
    const bytes = new TextEncoder().encode('hello emeth');
    const id = await store.put(bytes);
    expect(id).toBe(sha(bytes));
    expect(await store.has(id)).toBe(true);
    expect(await store.size(id)).toBe(bytes.byteLength);
    expect(Buffer.from(await store.get(id)).toString()).toBe('hello emeth');
    expect(await readFile(fileOf(id), 'utf8')).toBe('hello emeth'); // sharded layout
  });

  it('is idempotent: the same bytes twice make one blob and leave no temp files', async () => {
    const bytes = Uint8Array.from([1, 2, 3]);
    const [a, b] = await Promise.all([store.put(bytes), store.put(bytes)]);
    expect(a).toBe(b);
    expect(await store.put(bytes)).toBe(a);
    expect(await readdir(path.join(dir, a.slice(0, 2), a.slice(2, 4)))).toEqual([a]);
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('detects a blob whose file was changed on disk, naming the id', async () => {
    const id = await store.put(Uint8Array.from([9, 9, 9, 9]));
    await writeFile(fileOf(id), Uint8Array.from([9, 9, 9, 8])); // same size: only the hash can tell
    const err = await store.get(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobCorruptError);
    expect((err as Error).message).toContain(`blob ${id}`);
    expect((err as BlobCorruptError).code).toBe('BLOB_CORRUPT');
  });

  it('repairs a damaged copy of a different size on the next put', async () => {
    const bytes = Uint8Array.from([5, 6, 7]);
    const id = await store.put(bytes);
    await writeFile(fileOf(id), Uint8Array.from([5]));
    await store.put(bytes);
    expect(Array.from(await store.get(id))).toEqual([5, 6, 7]);
  });

  it('says "no blob <id>" for a missing blob, and refuses strings that are not ids', async () => {
    const missing = sha(Uint8Array.from([42]));
    await expect(store.get(missing)).rejects.toThrow(`no blob ${missing}`);
    await expect(store.get(missing)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.size(missing)).rejects.toThrow(`no blob ${missing}`);
    expect(await store.has(missing)).toBe(false);
    await expect(store.get('../../etc/passwd')).rejects.toThrow(/is not a blob id/);
    await expect(store.has('ABC')).rejects.toThrow(/is not a blob id/);
  });

  it('streams in and out with the same ids and checks integrity at the end of a read', async () => {
    const chunks = [Uint8Array.from([1, 2]), Uint8Array.from([3]), Uint8Array.from([4, 5, 6])];
    const id = await store.putStream!(
      (async function* () {
        yield* chunks;
      })(),
    );
    expect(id).toBe(sha(Uint8Array.from([1, 2, 3, 4, 5, 6])));
    const read: number[] = [];
    for await (const c of store.getStream!(id)) read.push(...c);
    expect(read).toEqual([1, 2, 3, 4, 5, 6]);

    await writeFile(fileOf(id), Uint8Array.from([1, 2, 3, 4, 5, 7]));
    const drain = async () => {
      for await (const _ of store.getStream!(id)) void _;
    };
    await expect(drain()).rejects.toThrow(`blob ${id}`);
  });
});
