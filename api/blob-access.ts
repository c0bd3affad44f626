/**
 * Who may read a blob. Storage is content-addressed, so knowing an id must not be enough: a reader
 * is the uploader, the requester of a Job that uses the blob (dataset, model, result, a shard or an
 * output of its SubJobs), a registered node assigned to a SubJob that uses it, or the L2 server
 * and verifiers (they split, verify and aggregate everything). A held-out test set
 * (REQUESTER_ONLY_BLOBS) is the exception: its uploader and its Job's requester only.
 */
import { PROGRAM_PARAMS } from '../activities/programs/params';
import type { PrismaClient } from '../prisma/client';

export async function canReadBlob(
  prisma: PrismaClient,
  readAll: ReadonlySet<string>,
  caller: string,
  id: string,
): Promise<boolean> {
  const who = caller.toLowerCase();
  const uploaded = await prisma.blob.findFirst({ where: { id, uploader: who }, select: { id: true } });
  if (uploaded) return true;

  // A held-out set is the requester's alone (its keyholder measures the model on it): a node that
  // read it could fit the test set, and no verifier needs it.
  const heldOutBy = await prisma.job.findMany({
    where: { OR: REQUESTER_ONLY_BLOBS.map((key) => ({ params: { path: [key], equals: id } })) },
    select: { requester: true },
  });
  if (heldOutBy.length > 0) return heldOutBy.some((j) => j.requester.toLowerCase() === who);

  if (readAll.has(who)) return true;

  // Shards are stored as ShardRef JSON in SubJob.shard, so "uses" is a substring match on the id.
  const subJobUses = { OR: [{ shard: { contains: id } }, { output: id }] };
  // Program inputs a Job names in its params (each program's blob fields), and training
  // checkpoints, which later epochs train from.
  const paramUses = PARAM_BLOBS.map((key) => ({ params: { path: [key], equals: id } }));
  const checkpointJobs = (
    await prisma.checkpoint.findMany({ where: { model: id }, select: { jobId: true } })
  ).map((c) => c.jobId);
  const jobUses = [...paramUses, ...(checkpointJobs.length ? [{ id: { in: checkpointJobs } }] : [])];
  const ownJob = await prisma.job.findFirst({
    where: {
      requester: who,
      OR: [{ dataset: id }, { result: id }, ...jobUses, { subJobs: { some: subJobUses } }],
    },
    select: { id: true },
  });
  if (ownJob) return true;

  const node = await prisma.node.findUnique({ where: { id: who }, select: { id: true } });
  if (!node) return false;
  // A node placed as a replica of a deployment loads its model (activities/inference/node).
  const replicaOf = await prisma.replica.findFirst({
    where: { nodeId: who, status: { in: ['loading', 'serving'] }, deployment: { model: id } },
    select: { id: true },
  });
  if (replicaOf) return true;
  const assigned = { OR: [{ nodeId: who }, { history: { some: { nodeId: who, outcome: null } } }] };
  const nodeUse = await prisma.subJob.findFirst({
    where: { AND: [assigned, { OR: [...subJobUses.OR, { job: { OR: jobUses } }] }] },
    select: { id: true },
  });
  return nodeUse !== null;
}

/**
 * Blob parameters only the Job's requester (and its keyholder, which holds the requester's key) may
 * read: fedavg-train's held-out `testSet`. Named here rather than in PROGRAM_PARAMS because
 * activities/programs/params.ts has no field for it yet; move it there when it does.
 */
export const REQUESTER_ONLY_BLOBS = ['testSet'];

/** Every program's blob parameters; a Job row keeps them under the same names (jobParams in routes/jobs.ts). */
const PARAM_BLOBS = [...new Set(Object.values(PROGRAM_PARAMS).flatMap((p) => p.blobFields))];
