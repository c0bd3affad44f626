/**
 * Blobs: PUT (plaintext the gateway seals, or an envelope sealed by the caller), GET (plaintext, or
 * the envelope with its data key wrapped to `to`) and HEAD.
 */
import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { textField } from '../../lib/schema-fields';
import { AUTH_ERRORS, BLOB_ID, BlobIdParam, SIGNED_OR_KEY, error, ok, z, type Operation } from './common';

/** The fewest bytes a blob may have: an empty upload is refused (400 empty_body). */
export const MIN_BLOB_BYTES = 1;

const Bytes = z
  .string()
  .min(MIN_BLOB_BYTES)
  .openapi({ format: 'binary', description: `at least ${MIN_BLOB_BYTES} byte, at most 64 MiB` });
const Envelope = z.string().min(MIN_BLOB_BYTES).openapi({
  format: 'binary',
  description:
    'an envelope (lib/envelope) sealed to GET /v1/storage/key; other bytes are refused with 400 envelope_invalid',
});

const Blob = z.object({ id: BLOB_ID, size: z.int().min(0) }).openapi('Blob');

export const BlobPath = z.object({ id: BlobIdParam });

export const ReadBlobQuery = z.strictObject({
  to: textField({
    pattern: /^(?:0x)?[0-9a-fA-F]{64}$/,
    maxLength: 66,
    expect: 'a 32-byte X25519 public key in hex (64 characters)',
    description:
      'an X25519 public key: answer with the envelope and its data key wrapped to it (a node may name only the key it registered; a low-order point such as all zeros is refused with 400 unusable_key)',
  }).optional(),
});

const BINARY_READ = {
  'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) },
  'application/vnd.emeth.envelope': { schema: z.string().openapi({ format: 'binary' }) },
};

const READ_ERRORS: Record<string, ResponseConfig> = {
  ...AUTH_ERRORS,
  '403': error('the caller may not read this blob'),
  '404': error('no such blob'),
};

export const blobOperations = {
  putBlob: {
    method: 'put',
    path: '/v1/blobs',
    summary:
      'Store a blob (at most 64 MB): plaintext the gateway seals, or an envelope sealed to the storage key',
    description:
      'Every blob rests as an AES-256-GCM envelope whose data key is wrapped to the storage key; the id is the sha-256 of the envelope. ' +
      'Upload `application/vnd.emeth.envelope` (sealed by the caller, lib/envelope) to keep plaintext off the wire, or any other type for the gateway to seal.',
    security: SIGNED_OR_KEY,
    request: {
      body: {
        required: true,
        content: {
          'application/octet-stream': { schema: Bytes },
          'application/vnd.emeth.envelope': { schema: Envelope },
        },
      },
    },
    responses: { '201': ok('stored (idempotent)', Blob), ...AUTH_ERRORS },
  },
  getBlob: {
    method: 'get',
    path: '/v1/blobs/{id}',
    summary: 'Read a blob',
    description:
      'Allowed for its uploader, the requester of a Job using it, a node assigned to a SubJob using it, verifiers and the L2 server. ' +
      'With `to`, the envelope comes back with its data key wrapped to that X25519 key in the `x-emeth-data-key` header; without it, the plaintext.',
    security: SIGNED_OR_KEY,
    request: { params: BlobPath, query: ReadBlobQuery },
    responses: {
      '200': {
        description: 'the bytes (plaintext), or the envelope when `to` is given',
        content: BINARY_READ,
      },
      ...READ_ERRORS,
    },
  },
  headBlob: {
    method: 'head',
    path: '/v1/blobs/{id}',
    summary: 'Size of a blob (same authorization as GET)',
    security: SIGNED_OR_KEY,
    request: { params: BlobPath },
    responses: {
      '200': { description: 'exists; content-length is its size at rest' },
      '400': { description: 'not a blob id' },
      '401': { description: 'not authenticated' },
      '403': { description: 'forbidden' },
      '404': { description: 'no such blob' },
    },
  },
} satisfies Record<string, Operation>;
