/** Row access the L2 components share: a Job by id, its params, granting a reader a blob. */
import { ApplicationFailure } from '@temporalio/common';
import type { PrismaClient } from '../../prisma/client';
import { REFUSED_ERROR } from '../../lib/pipeline';
import type { BlobStore } from '../storage';

/** A refusal the workflow must not retry (the request itself is wrong). */
export function refuse(message: string): never {
  throw ApplicationFailure.nonRetryable(message, REFUSED_ERROR);
}

export async function loadJob(prisma: PrismaClient, jobId: string) {
  const j = await prisma.job.findUnique({ where: { id: jobId } });
  if (!j) refuse(`no Job ${jobId}`);
  return j;
}

/** A Job's program parameters as stored at submission (names as in the REST API). */
export const jobParams = (j: { params: unknown }): Record<string, string> =>
  (j.params ?? {}) as Record<string, string>;

/** How many independent nodes run each SubJob: 2 when the requester asked for replication (`replicate`). */
export const replicasOf = (j: { params: unknown }): 1 | 2 => {
  const r = (jobParams(j) as Record<string, unknown>).replicate;
  return r === true || r === 'true' ? 2 : 1;
};

/** The Job parameters a program hands its nodes and verifier (its spec's `runParams`), same names. */
export function runParamsOf(
  names: readonly string[],
  params: Record<string, string>,
): Record<string, string> | undefined {
  const picked = names.filter((n) => params[n] !== undefined).map((n) => [n, String(params[n])]);
  return picked.length > 0 ? Object.fromEntries(picked) : undefined;
}

/** Grants `reader` read access to a blob, recorded as an upload on its behalf (see api/blob-access). */
export async function shareBlob(
  deps: { prisma: PrismaClient; store: BlobStore },
  blob: string,
  reader: string,
): Promise<void> {
  const size = await deps.store.size(blob);
  // Insert-or-nothing in one statement: two uploads of the same bytes at once must not collide.
  await deps.prisma.blob.createMany({
    data: [{ id: blob, uploader: reader.toLowerCase(), size }],
    skipDuplicates: true,
  });
}
