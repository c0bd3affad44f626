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
  signDecline,
  signResult,
} from '../lib/attestations';
import { attemptId } from '../lib/ids';
import { randomBytes } from 'node:crypto';
import { hexlify } from 'ethers';
import type { BlobStore } from './storage';

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
  };

  async function run(task: NodeTask, replica: boolean): Promise<NodeResult> {
    const ctx = Context.current();
    const log = deps.logger.child({ jobId: task.jobId, subJobId: task.subJobId, nodeId: deps.nodeId });
    const started = Date.now();
    ctx.heartbeat({ phase: 'starting', rows: task.shard.rows });
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
            throw await signedDecline(deps, task, `node ${deps.nodeId} ${why}`);
          }
          // The program failed on this input: say how, so the verifier can re-run it and tell
          // whether the input (the requester) or this node is at fault.
          const code = errorCodeOf(err);
          log.warn({ code, err: (err as Error)?.message }, 'the program failed on this input');
          throw ApplicationFailure.create({
            message: (err as Error)?.message ?? String(err),
            type: PROGRAM_ERROR,
            nonRetryable: true,
            details: [code],
          });
        });
      const claim = resultClaimOf(task, deps.nodeId, out.outputBlobId, out.fuelUsed);
      const signature = await signResult(deps.signer, deps.domain, claim);
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
