/**
 * EMETH Storage: content-addressed blobs named by the hex sha-256 of their bytes.
 *
 * The interface is the contract: the local-disk store below is the default, and an S3-compatible
 * store can implement the same methods later (put = PUT object under its hash, get = GET + hash
 * check, has/size = HEAD). Callers never see paths, only ids.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { EmethError } from '../lib/errors';
import { isBlobId, type BlobId } from '../lib/programs';

export type { BlobId };

export interface BlobStore {
  /** Stores the bytes and returns their id. Idempotent: putting the same bytes twice is one blob. */
  put(bytes: Uint8Array): Promise<BlobId>;
  /** The bytes of a blob, checked against its id; throws BlobNotFoundError or BlobCorruptError. */
  get(id: BlobId): Promise<Uint8Array>;
  has(id: BlobId): Promise<boolean>;
  /** Stored size in bytes; throws BlobNotFoundError. */
  size(id: BlobId): Promise<number>;
  /** Streams a large blob in; the id is known only at the end. */
  putStream?(source: AsyncIterable<Uint8Array>): Promise<BlobId>;
  /** Streams a blob out; the integrity check happens at the end, so consume it fully before trusting it. */
  getStream?(id: BlobId): AsyncIterable<Uint8Array>;
}

export class BlobNotFoundError extends EmethError {
  constructor(
    readonly blobId: string,
    where: string,
  ) {
    super(
      'BLOB_NOT_FOUND',
      `no blob ${blobId} in ${where}; it was never stored here or was removed — upload it again`,
    );
  }
}

export class BlobCorruptError extends EmethError {
  constructor(
    readonly blobId: string,
    actual: string,
    where: string,
  ) {
    super(
      'BLOB_CORRUPT',
      `blob ${blobId} in ${where} is corrupt: its bytes hash to ${actual}; delete the file and upload the blob again`,
    );
  }
}

export class BlobIdError extends EmethError {
  constructor(value: unknown) {
    super(
      'BLOB_ID_INVALID',
      `"${String(value)}" is not a blob id (expected 64 lowercase hex characters, a sha-256)`,
    );
  }
}

export function blobIdOf(bytes: Uint8Array): BlobId {
  return createHash('sha256').update(bytes).digest('hex');
}

function checkId(id: unknown): asserts id is BlobId {
  // Also what keeps ids from naming paths outside the store (../, /, ...).
  if (!isBlobId(id)) throw new BlobIdError(id);
}

/**
 * Blobs on local disk at `<dir>/<id[0:2]>/<id[2:4]>/<id>`: two levels of 256 folders keep any one
 * folder small. Writes go to `<dir>/tmp` first and are renamed into place (same file system, so the
 * rename is atomic): a reader never sees half a blob, and a crash leaves at most a temp file.
 */
export function createLocalBlobStore(dir: string): BlobStore {
  const root = path.resolve(dir);
  const tmpDir = path.join(root, 'tmp');
  const where = `the local store at ${root}`;
  const pathOf = (id: BlobId) => path.join(root, id.slice(0, 2), id.slice(2, 4), id);
  const tmpPath = () => path.join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.part`);

  async function exists(id: BlobId): Promise<number | null> {
    try {
      return (await stat(pathOf(id))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async function moveIntoPlace(tmp: string, id: BlobId): Promise<void> {
    const final = pathOf(id);
    await mkdir(path.dirname(final), { recursive: true });
    await rename(tmp, final);
  }

  return {
    async put(bytes) {
      const id = blobIdOf(bytes);
      // A same-sized file under this id is the same blob (idempotent put); a different size means
      // a damaged copy, which this put repairs. Same-size damage is caught by get's hash check.
      if ((await exists(id)) === bytes.byteLength) return id;
      await mkdir(tmpDir, { recursive: true });
      const tmp = tmpPath();
      try {
        await writeFile(tmp, bytes);
        await moveIntoPlace(tmp, id);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      return id;
    },

    async get(id) {
      checkId(id);
      let bytes: Buffer;
      try {
        bytes = await readFile(pathOf(id));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(id, where);
        throw err;
      }
      const actual = blobIdOf(bytes);
      if (actual !== id) throw new BlobCorruptError(id, actual, where);
      return bytes;
    },

    async has(id) {
      checkId(id);
      return (await exists(id)) !== null;
    },

    async size(id) {
      checkId(id);
      const size = await exists(id);
      if (size === null) throw new BlobNotFoundError(id, where);
      return size;
    },

    async putStream(source) {
      await mkdir(tmpDir, { recursive: true });
      const tmp = tmpPath();
      const hash = createHash('sha256');
      try {
        await pipeline(
          Readable.from(source),
          async function* (chunks: AsyncIterable<Uint8Array>) {
            for await (const chunk of chunks) {
              hash.update(chunk);
              yield chunk;
            }
          },
          createWriteStream(tmp),
        );
        const id = hash.digest('hex');
        if ((await exists(id)) !== null) await rm(tmp, { force: true });
        else await moveIntoPlace(tmp, id);
        return id;
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },

    async *getStream(id) {
      checkId(id);
      if ((await exists(id)) === null) throw new BlobNotFoundError(id, where);
      const hash = createHash('sha256');
      // 1 MiB reads: the pool reads the next piece while the consumer works on this one.
      for await (const chunk of createReadStream(pathOf(id), {
        highWaterMark: 1 << 20,
      }) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        yield chunk;
      }
      const actual = hash.digest('hex');
      if (actual !== id) throw new BlobCorruptError(id, actual, where);
    },
  };
}
