import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Signer } from 'ethers';
import type { Logger } from '../lib/logger';
import type { TypedDataDomain } from 'ethers';
import {
  DECLINE_ERROR,
  PROGRAM_ERROR,
  type NodeActivities,
  type NodeResult,
  type NodeTask,
} from '../lib/pipeline';
import type { ProgramModule } from '../lib/programs';
import { EnvelopeError } from '../lib/envelope';
import { errorCodeOf } from '../lib/errors';
import {
  declineClaimOf,
  inputDigestOf,
  replicaCommitment,
  resultClaimOf,
  l1FailureDigest,
  l1ResultDigest,
  signDecline,
  signResult,
} from '../lib/attestations';
import { attemptId } from '../lib/ids';
import { randomBytes } from 'node:crypto';
import { hexlify } from 'ethers';
import type { BlobStore } from './storage';
import type { L1Activities } from './chain/l1';
import { SubJobStatus } from '../lib/types-chain';

export interface NodeDeps {
  nodeId: string;
  signer: Signer;
  program(programId: number): ProgramModule;
  store: BlobStore;
  logger: Logger;
  /** The EIP-712 domain results and declines are signed under (EmethCore's). */
  domain: TypedDataDomain;
  /** ms between heartbeats while a SubJob runs (the L2 times out silent nodes). */
  heartbeatMs?: number;
  /** L1 Jobs' SubJobs, taken, submitted and given back on EmethCore with the node's own key. */
  l1?: NodeL1;
}

/** What a node does on EmethCore for an L1 SubJob (paper 7-2), with its own key. */
export interface NodeL1 {
  /** `process`: the node takes the SubJob, locking its deposit; done already when it holds it. */
  take(jobId: string, index: number): Promise<void>;
  /** `submit`: the digest of its signed result (lib/attestations l1ResultDigest) and its fuel. */
  submit(jobId: string, index: number, resultDigest: string, fuelUsed: string): Promise<void>;
  /** `decline`: the SubJob handed back on chain, its decline penalty burned. */
  giveBack(jobId: string, index: number): Promise<void>;
}

/** NodeL1 over the typed chain activities of the node's key. */
export function nodeL1Of(
  l1: Pick<L1Activities, 'processSubJob' | 'submitResult' | 'declineSubJob' | 'getSubJob'>,
): NodeL1 {
  return {
    take: async (jobId, index) => void (await l1.processSubJob(jobId, index)),
    submit: async (jobId, index, digest, fuelUsed) =>
      void (await l1.submitResult(jobId, index, digest, fuelUsed)),
    async giveBack(jobId, index) {
      const s = await l1.getSubJob(jobId, index);
      if (s.status === SubJobStatus.Processing) await l1.declineSubJob(jobId, index, s.retries);
    },
  };
}

/**
 * Thrown by a program (or a fault drill wrapping one) for work this node will not do: the node
 * hands the SubJob back with a signed decline, pays the decline penalty, and it is re-offered.
 */
export class DeclineRequest extends Error {}

/** The honest node: runs the SubJob's program, heartbeating, and signs what it computed. */
export function createNodeActivities(deps: NodeDeps): NodeActivities {
  // Results committed to and not yet revealed, by attempt. Lost with the process: a node that
  // restarts between commit and reveal cannot reveal, which the L2 counts as no answer.
  const committed = new Map<string, { result: NodeResult; salt: string }>();
  const self: NodeActivities = {
    async commitSubJob(task: NodeTask) {
      const result = await run(task, true);
      const salt = hexlify(randomBytes(32));
      committed.set(attemptId(task.subJobId, task.attempt), { result, salt });
      deps.logger.info(
        { jobId: task.jobId, subJobId: task.subJobId, nodeId: deps.nodeId, attempt: task.attempt },
        'replica committed',
      );
      return {
        subJobId: task.subJobId,
        attempt: task.attempt,
        nodeId: deps.nodeId,
        commitment: replicaCommitment(result, salt),
      };
    },

    async revealSubJob({ subJobId, attempt }) {
      const kept = committed.get(attemptId(subJobId, attempt));
      if (!kept) {
        throw ApplicationFailure.create({
          message: `node ${deps.nodeId} holds no committed result for ${subJobId} attempt ${attempt}`,
          nonRetryable: true,
        });
      }
      committed.delete(attemptId(subJobId, attempt));
      return kept;
    },

    runSubJob: (task: NodeTask) => run(task, false),

    async confirmLease({ leaseId, period }) {
      deps.logger.info({ jobId: leaseId, nodeId: deps.nodeId, period }, 'lease period confirmed');
      return { nodeId: deps.nodeId };
    },
  };

  async function run(task: NodeTask, replica: boolean): Promise<NodeResult> {
    const ctx = Context.current();
    const log = deps.logger.child({ jobId: task.jobId, subJobId: task.subJobId, nodeId: deps.nodeId });
    const started = Date.now();
    ctx.heartbeat({ phase: 'starting', rows: task.shard.rows });
    if (task.l1) await takeOnChain(task, task.l1.index);
    const beat = setInterval(
      () => ctx.heartbeat({ phase: 'running', rows: task.shard.rows, elapsedMs: Date.now() - started }),
      deps.heartbeatMs ?? 2000,
    );
    try {
      const out = await deps
        .program(task.programId)
        .run({
          shard: task.shard,
          modelBlobId: task.modelBlobId,
          fuelLimit: task.fuelLimit,
          params: task.params,
          context: {
            jobId: task.jobId,
            subJobId: task.subJobId,
            nodeId: deps.nodeId,
            ...(replica ? { replica } : {}),
          },
        })
        .catch(async (err: unknown) => {
          // An input that does not open (altered on its way here, or sealed to another key) is
          // work this node cannot do: it hands the SubJob back, as a decline, to be re-offered.
          if (err instanceof EnvelopeError || err instanceof DeclineRequest) {
            const why = err instanceof EnvelopeError ? `cannot open its input: ${err.message}` : err.message;
            log.warn({ err: why }, 'handing the SubJob back');
            if (task.l1) await deps.l1?.giveBack(task.jobId, task.l1.index);
            throw await signedDecline(deps, task, `node ${deps.nodeId} ${why}`);
          }
          // The program failed on this input: say how, so the verifier can re-run it and tell
          // whether the input (the requester) or this node is at fault.
          const code = errorCodeOf(err);
          log.warn({ code, err: (err as Error)?.message }, 'the program failed on this input');
          // On L1 the failure is reported on chain (fuel 0), so the verifier's re-run can close it
          // without a fine when the input is at fault; unreported, the chain would time it out.
          if (task.l1) {
            await deps
              .l1!.submit(task.jobId, task.l1.index, l1FailureDigest(task, deps.nodeId), '0')
              .catch((e: unknown) =>
                log.warn({ err: (e as Error).message }, 'could not report the failure on chain'),
              );
          }
          throw ApplicationFailure.create({
            message: (err as Error)?.message ?? String(err),
            type: PROGRAM_ERROR,
            nonRetryable: true,
            details: [code],
          });
        });
      const claim = resultClaimOf(task, deps.nodeId, out.outputBlobId, out.fuelUsed);
      const signature = await signResult(deps.signer, deps.domain, claim);
      // On L1 the chain holds the result's digest before the L2 is told of it: that is the submission.
      if (task.l1) await deps.l1!.submit(task.jobId, task.l1.index, l1ResultDigest(signature), out.fuelUsed);
      log.info(
        {
          rows: out.rows,
          fuelUsed: out.fuelUsed,
          provider: out.executionProvider,
          ms: Date.now() - started,
        },
        'SubJob computed',
      );
      return {
        jobId: task.jobId,
        subJobId: task.subJobId,
        attempt: task.attempt,
        nodeId: deps.nodeId,
        inputDigest: inputDigestOf(task),
        output: out.outputBlobId,
        fuelUsed: out.fuelUsed,
        signature,
        executionProvider: out.executionProvider,
      };
    } finally {
      clearInterval(beat);
    }
  }
  /** The SubJob taken on chain before any work: a refusal there (taken by another, failed) ends the attempt. */
  async function takeOnChain(task: NodeTask, index: number): Promise<void> {
    if (!deps.l1) {
      throw ApplicationFailure.create({
        message: `node ${deps.nodeId} runs without a chain key for L1 SubJobs`,
        nonRetryable: true,
      });
    }
    try {
      await deps.l1.take(task.jobId, index);
    } catch (err) {
      throw ApplicationFailure.create({
        message: `node ${deps.nodeId} could not take SubJob ${task.jobId}#${index} on chain: ${(err as Error).message}`,
        nonRetryable: true,
      });
    }
  }
  return self;
}

/** The failure a node hands a SubJob back with: its signed `Decline` of exactly this attempt. */
async function signedDecline(
  deps: Pick<NodeDeps, 'signer' | 'domain' | 'nodeId'>,
  task: NodeTask,
  message: string,
): Promise<ApplicationFailure> {
  const signature = await signDecline(deps.signer, deps.domain, declineClaimOf(task, deps.nodeId));
  return ApplicationFailure.create({
    message,
    type: DECLINE_ERROR,
    nonRetryable: true,
    details: [signature],
  });
}
