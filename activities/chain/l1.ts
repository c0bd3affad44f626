/**
 * L1 job activities: request → registerSubJobs → process → submit → verify, and the penalties
 * decline/reject/timeout, for the requester, L1 server, node and verifier workers.
 *
 * Every write first reads the state it would change and returns `alreadyDone: true` when the
 * effect is already there, so a Temporal retry after a lost response never pays, burns or
 * registers twice. A revert is a ContractRevertError naming the rule (list it, and
 * ChainStateError, in the activity's `nonRetryableErrorTypes`); RPC failures stay retryable.
 */
import { JobStatus, SubJobStatus } from '../../lib/types-chain';
import { readJob, readSubJob } from './reads';
import { ChainStateError, type Amount, type ChainTx, type TxResult } from './tx';
import type { L1Request } from './l1-requests';

export interface RequestJobInput {
  jobId: string;
  programId: number;
  fuelLimit: Amount;
  fuelPrice: Amount;
  /** Unix seconds. */
  deadline: number;
  /** bytes32 content id of the dataset. */
  dataset: string;
}

const same = (a: string | null, b: string): boolean => a !== null && a.toLowerCase() === b.toLowerCase();

export function createL1Activities(tx: ChainTx) {
  const { core, send, done, self } = tx;
  const getJob = (jobId: string) => readJob(core, jobId);
  const getSubJob = (jobId: string, index: number) => readSubJob(core, jobId, index);

  /**
   * For decline/reject/timeout: `attempt` is the SubJob's `retries` when the decision was taken.
   * If the chain has moved past that attempt (re-offered or failed), our action already happened.
   */
  async function penaltyAction(
    action: 'decline' | 'reject' | 'timeout',
    jobId: string,
    index: number,
    attempt: number,
    allowed: SubJobStatus[],
  ): Promise<TxResult> {
    const fields = { jobId, index, attempt };
    const s = await getSubJob(jobId, index);
    // After our action the SubJob was re-offered (retries grew) or failed: nothing left to do.
    if (s.retries > attempt || s.status === SubJobStatus.Failed) return done(action, fields);
    if (!allowed.includes(s.status) || s.retries !== attempt) {
      throw new ChainStateError(
        `${action} of SubJob ${jobId}#${index} attempt ${attempt}: the SubJob is ${SubJobStatus[s.status]} at attempt ${s.retries}`,
      );
    }
    return send(action, fields, () => core[action](jobId, index));
  }

  return {
    getJob,
    getSubJob,

    async requestJob(input: RequestJobInput): Promise<TxResult> {
      const existing = await getJob(input.jobId);
      if (existing) {
        if (!same(existing.requester, await self()))
          throw new ChainStateError(`jobId ${input.jobId} is already used by ${existing.requester}`);
        return done('request', { jobId: input.jobId });
      }
      return send('request', { jobId: input.jobId }, () =>
        core.request(
          input.jobId,
          input.programId,
          BigInt(input.fuelLimit),
          BigInt(input.fuelPrice),
          input.deadline,
          input.dataset,
        ),
      );
    },

    /**
     * Relays a requester's signed `Request` (EmethL1.requestFor): the escrow leaves the requester's
     * deposit for the Job. Anyone may relay; the L2 does. Already open for this requester: done.
     */
    async requestJobFor(request: L1Request, signature: string): Promise<TxResult> {
      const existing = await getJob(request.jobId);
      if (existing) {
        if (!same(existing.requester, request.requester))
          throw new ChainStateError(`jobId ${request.jobId} is already used by ${existing.requester}`);
        return done('requestFor', { jobId: request.jobId });
      }
      return send('requestFor', { jobId: request.jobId, requester: request.requester }, () =>
        core.requestFor(request, signature),
      );
    },

    async cancelJob(jobId: string): Promise<TxResult> {
      const j = await getJob(jobId);
      if (j?.status === JobStatus.Cancelled) return done('cancel', { jobId });
      return send('cancel', { jobId }, () => core.cancel(jobId));
    },

    async registerSubJobs(jobId: string, shardSizes: Amount[]): Promise<TxResult> {
      const j = await getJob(jobId);
      if (j && (j.status === JobStatus.Split || j.status === JobStatus.Finished)) {
        if (j.subJobCount !== shardSizes.length) {
          throw new ChainStateError(
            `job ${jobId} already has ${j.subJobCount} SubJobs, not ${shardSizes.length}`,
          );
        }
        return done('registerSubJobs', { jobId });
      }
      return send('registerSubJobs', { jobId, count: shardSizes.length }, () =>
        core.registerSubJobs(jobId, shardSizes.map(BigInt)),
      );
    },

    async processSubJob(jobId: string, index: number): Promise<TxResult> {
      const s = await getSubJob(jobId, index);
      if (s.status !== SubJobStatus.Open && same(s.node, await self()))
        return done('process', { jobId, index });
      return send('process', { jobId, index }, () => core.process(jobId, index));
    },

    async submitResult(
      jobId: string,
      index: number,
      resultDigest: string,
      fuelUsed: Amount,
    ): Promise<TxResult> {
      const s = await getSubJob(jobId, index);
      if (
        (s.status === SubJobStatus.Submitted || s.status === SubJobStatus.Verified) &&
        same(s.node, await self())
      ) {
        if (s.resultDigest !== resultDigest)
          throw new ChainStateError(
            `SubJob ${jobId}#${index} was submitted with another digest ${s.resultDigest}`,
          );
        return done('submit', { jobId, index });
      }
      return send('submit', { jobId, index, fuelUsed: String(fuelUsed) }, () =>
        core.submit(jobId, index, resultDigest, BigInt(fuelUsed)),
      );
    },

    async verifySubJob(jobId: string, index: number): Promise<TxResult> {
      const s = await getSubJob(jobId, index);
      if (s.status === SubJobStatus.Verified) return done('verify', { jobId, index });
      return send('verify', { jobId, index }, () => core.verify(jobId, index));
    },

    /** `attempt`: the SubJob's retries when the node decided to decline. */
    declineSubJob: (jobId: string, index: number, attempt: number) =>
      penaltyAction('decline', jobId, index, attempt, [SubJobStatus.Processing]),
    /** `attempt`: the SubJob's retries when the verifier judged the result. */
    rejectSubJob: (jobId: string, index: number, attempt: number) =>
      penaltyAction('reject', jobId, index, attempt, [SubJobStatus.Submitted]),
    /** `attempt`: the SubJob's retries when the verifier found it overdue. */
    timeoutSubJob: (jobId: string, index: number, attempt: number) =>
      penaltyAction('timeout', jobId, index, attempt, [
        SubJobStatus.Processing,
        SubJobStatus.Open,
        SubJobStatus.Submitted,
      ]),
  };
}

export type L1Activities = ReturnType<typeof createL1Activities>;
