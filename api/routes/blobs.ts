/**
 * EMETH Storage over HTTP: PUT raw bytes (any content type, ≤ 64 MB) → its sha-256 id; GET/HEAD
 * by id for those allowed to read it (api/blob-access). Uploads are recorded in the Blob table so
 * the uploader can read back and reference what it stored.
 */
import { Router } from 'express';
import type { Authenticator } from '../auth';
import type { ApiContext } from '../deps';
import { badRequest, forbidden, notFound } from '../errors';
import { authenticated, callerOf, rawBody } from '../http';
import { BLOB_ID_PATTERN } from '../validate';
import { canReadBlob } from '../blob-access';

export interface BlobView {
  id: string;
  size: number;
}

function blobIdParam(value: string | undefined): string {
  if (!value || !BLOB_ID_PATTERN.test(value)) {
    throw badRequest(
      'invalid_parameter',
      `"${value ?? ''}" is not a blob id (64 lower-case hex characters, a sha-256)`,
      'id',
    );
  }
  return value;
}

export function blobsRouter(ctx: ApiContext, auth: Authenticator): Router {
  const router = Router();

  router.put('/', authenticated(auth), async (req, res) => {
    const caller = callerOf(res);
    const bytes = rawBody(req);
    if (bytes.length === 0)
      throw badRequest('empty_body', 'the body is empty; PUT the blob bytes as the request body');
    const id = await ctx.store.put(bytes);
    // Every uploader may read back what it stored: it already holds the bytes.
    await ctx.prisma.blob.upsert({
      where: { id_uploader: { id: id, uploader: caller.address } },
      create: { id, uploader: caller.address, size: bytes.length },
      update: {},
    });
    req.log.info({ blobId: id, size: bytes.length, uploader: caller.address }, 'blob stored');
    const view: BlobView = { id, size: bytes.length };
    res.status(201).json(view);
  });

  async function authorize(id: string, address: string): Promise<number> {
    if (!(await canReadBlob(ctx.prisma, ctx.readAll, address, id))) {
      throw forbidden(
        'blob_forbidden',
        `${address} may not read blob ${id}: only its uploader, the requester of a Job using it, its assigned node, verifiers and the L2 server can`,
      );
    }
    if (!(await ctx.store.has(id)))
      throw notFound('blob_not_found', `blob ${id} is not in EMETH Storage; upload it again`);
    return ctx.store.size(id);
  }

  router.head('/:id', authenticated(auth), async (req, res) => {
    const id = blobIdParam(String(req.params.id ?? ''));
    const size = await authorize(id, callerOf(res).address);
    res
      .status(200)
      .set({ 'content-type': 'application/octet-stream', 'content-length': String(size) })
      .end();
  });

  router.get('/:id', authenticated(auth), async (req, res) => {
    const id = blobIdParam(String(req.params.id ?? ''));
    await authorize(id, callerOf(res).address);
    // get() checks the bytes against the id before anything is sent: a corrupt blob is an error, never data.
    const bytes = await ctx.store.get(id);
    res
      .status(200)
      .set({ 'content-type': 'application/octet-stream', etag: `"${id}"` })
      .send(Buffer.from(bytes));
  });

  return router;
}
