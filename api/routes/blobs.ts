/**
 * EMETH Storage over HTTP. Every blob rests as an envelope (lib/envelope) sealed to the L2's
 * storage key, and its id is the sha-256 of the envelope.
 *
 * - PUT with content type `application/vnd.emeth.envelope`: an envelope sealed by the caller to
 *   the storage key (GET /v1/storage/key), stored as it is. Nodes, verifiers and keyholders upload
 *   this way, so their plaintext never leaves them.
 * - PUT with any other content type (≤ 64 MB): plaintext the gateway seals before storing.
 * - GET `?to=<X25519 public key>`: the envelope, with its data key wrapped to that key in the
 *   `x-emeth-data-key` header; the caller opens it in memory. Without `to`: the plaintext, except
 *   for a registered node, which must name its registered key.
 * - HEAD: the stored (envelope) size.
 *
 * Only those allowed (api/blob-access) read; uploads are recorded so the uploader can read back
 * and reference what it stored.
 */
import { Router } from 'express';
import type { Authenticator } from '../auth';
import type { ApiContext } from '../deps';
import { badRequest, forbidden, notFound } from '../errors';
import { authenticated, callerOf, queryObject, rawBody } from '../http';
import { BlobPath, MIN_BLOB_BYTES, ReadBlobQuery } from '../schemas/blobs';
import { parsePath, parseQuery } from '../schemas/parse';
import { canReadBlob } from '../blob-access';
import {
  DATA_KEY_HEADER,
  ENVELOPE_CONTENT_TYPE,
  EnvelopeError,
  parsePublicKey,
  publicKeyHex,
} from '../../lib/envelope';

export interface BlobView {
  id: string;
  /** Bytes at rest (the envelope). */
  size: number;
}

/**
 * Wraps a data key to `to`. X25519 refuses low-order points (all zeros and a few others): no key
 * agreement is possible with them, so that is the caller's key at fault, not a gateway failure.
 */
function wrapTo(wrap: () => Uint8Array, to: string): Uint8Array {
  try {
    return wrap();
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_OSSL_FAILED_DURING_DERIVATION') throw err;
    throw badRequest(
      'unusable_key',
      `to ${to} is a low-order X25519 point no key agreement works with; use the node's real public key`,
      'to',
    );
  }
}

export function blobsRouter(ctx: ApiContext, auth: Authenticator): Router {
  const router = Router();

  router.put('/', authenticated(auth), async (req, res) => {
    const caller = callerOf(res);
    const bytes = rawBody(req);
    if (bytes.length < MIN_BLOB_BYTES)
      throw badRequest('empty_body', 'the body is empty; PUT the blob bytes as the request body');
    const sealed = (req.headers['content-type'] ?? '').split(';')[0]!.trim() === ENVELOPE_CONTENT_TYPE;
    let id: string;
    try {
      id = sealed ? await ctx.store.putEnvelope(bytes) : await ctx.store.put(bytes);
    } catch (err) {
      if (err instanceof EnvelopeError) {
        throw badRequest(
          'envelope_invalid',
          `${err.message}; seal it to the storage key ${ctx.store.storageKey.keyId} (GET /v1/storage/key)`,
        );
      }
      throw err;
    }
    const size = sealed ? bytes.length : await ctx.store.size(id); // bytes at rest: the envelope
    // Every uploader may read back what it stored: it already holds the bytes.
    // Insert-or-nothing in one statement: two uploads of the same bytes at once must not collide.
    await ctx.prisma.blob.createMany({
      data: [{ id, uploader: caller.address, size }],
      skipDuplicates: true,
    });
    req.log.info(
      { blobId: id, size, sealedBy: sealed ? 'uploader' : 'gateway', uploader: caller.address },
      'blob stored',
    );
    const view: BlobView = { id, size };
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
    const { id } = parsePath(BlobPath, req.params);
    const size = await authorize(id, callerOf(res).address);
    res
      .status(200)
      .set({ 'content-type': 'application/octet-stream', 'content-length': String(size) })
      .end();
  });

  router.get('/:id', authenticated(auth), async (req, res) => {
    const { id } = parsePath(BlobPath, req.params);
    const { to } = parseQuery(ReadBlobQuery, queryObject(req));
    const caller = callerOf(res).address;
    await authorize(id, caller);
    // A node's inputs go only to the key it registered (POST /v1/nodes), never as plaintext and
    // never to another key it names: a node must name its registered key in `to`.
    const node = await ctx.prisma.node.findUnique({
      where: { id: caller },
      select: { encryptionKey: true },
    });
    if (node && to === undefined) {
      throw forbidden(
        'to_required',
        `${caller} is a registered node: read blobs sealed to its registered X25519 key with ?to=${node.encryptionKey ?? '<key>'}${node.encryptionKey ? '' : ' after registering one (POST /v1/nodes)'}`,
        'to',
      );
    }
    if (to !== undefined) {
      const reader = parsePublicKey(to, 'to'); // the schema admitted only 32-byte hex keys
      if (node && node.encryptionKey !== publicKeyHex(reader)) {
        throw forbidden(
          'key_not_registered',
          `node ${caller} registered X25519 key ${node.encryptionKey ?? '(none)'}, not ${publicKeyHex(reader)}; register again with this key (POST /v1/nodes)`,
        );
      }
      // get() checks the bytes against the id before anything is sent: a corrupt blob is an error, never data.
      const envelope = await ctx.store.envelopes.get(id);
      const wrap = wrapTo(() => ctx.store.dataKeyFor(id, envelope, reader), to);
      res
        .status(200)
        .set({
          'content-type': ENVELOPE_CONTENT_TYPE,
          etag: `"${id}"`,
          [DATA_KEY_HEADER]: Buffer.from(wrap).toString('base64'),
          'access-control-expose-headers': DATA_KEY_HEADER,
        })
        .send(Buffer.from(envelope));
      return;
    }
    const bytes = await ctx.store.get(id);
    res
      .status(200)
      .set({ 'content-type': 'application/octet-stream', etag: `"${id}"` })
      .send(Buffer.from(bytes));
  });

  return router;
}
