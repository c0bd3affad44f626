import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Signer } from 'ethers';
import type { Logger } from '../lib/logger';
import {
  DECLINE_ERROR,
  nodeResultMessage,
  type NodeActivities,
  type NodeResult,
  type NodeTask,
} from '../lib/pipeline';
import type { ProgramModule } from '../lib/programs';
import { EnvelopeError } from '../lib/envelope';
import type { BlobStore } from './storage';

export interface NodeDeps {
  nodeId: string;
  signer: Signer;
  program(programId: number): ProgramModule;
  store: BlobStore;
  logger: Logger;
  /** ms between heartbeats while a SubJob runs (the L2 times out silent nodes). */
  heartbeatMs?: number;
}

/** The honest node: runs the SubJob's program, heartbeating, and signs what it computed. */
export function createNodeActivities(deps: NodeDeps): NodeActivities {
  return {
    async runSubJob(task: NodeTask): Promise<NodeResult> {
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
            context: { jobId: task.jobId, subJobId: task.subJobId, nodeId: deps.nodeId },
          })
          .catch((err: unknown) => {
            // An input that does not open (altered on its way here, or sealed to another key) is
            // work this node cannot do: it hands the SubJob back, as a decline, to be re-offered.
            if (err instanceof EnvelopeError) {
              log.warn({ err: err.message }, 'SubJob input does not open; handing the SubJob back');
              throw ApplicationFailure.nonRetryable(
                `node ${deps.nodeId} cannot open its input: ${err.message}`,
                DECLINE_ERROR,
              );
            }
            throw err;
          });
        const unsigned = { subJobId: task.subJobId, output: out.outputBlobId, fuelUsed: out.fuelUsed };
        const signature = await deps.signer.signMessage(nodeResultMessage(unsigned, task.attempt));
        log.info(
          {
            rows: out.rows,
            fuelUsed: out.fuelUsed,
            provider: out.executionProvider,
            ms: Date.now() - started,
          },
          'SubJob computed',
        );
        return { ...unsigned, nodeId: deps.nodeId, signature, executionProvider: out.executionProvider };
      } finally {
        clearInterval(beat);
      }
    },
  };
}

