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
import { decodeMatrix, encodeMatrix } from '../lib/matrix';
import { EnvelopeError } from '../lib/envelope';
import type { BlobStore } from './storage';

/**
 * How a node behaves. Anything but `honest` exists to exercise the failure paths (tests, the
 * demo's fault drills); a real node never sets it.
 */
export const NODE_BEHAVIOURS = ['honest', 'lie', 'decline', 'slow', 'tamper-shard'] as const;
export type NodeBehaviour = (typeof NODE_BEHAVIOURS)[number];

export interface NodeDeps {
  nodeId: string;
  signer: Signer;
  program(programId: number): ProgramModule;
  store: BlobStore;
  logger: Logger;
  behaviour?: NodeBehaviour;
  /** ms between heartbeats while a SubJob runs (the L2 times out silent nodes). */
  heartbeatMs?: number;
  /** With behaviour `slow`: how long to stall (heartbeating) before computing. */
  slowMs?: number;
  /** Called with each task before its program runs (the shard-tampering drill marks its shard). */
  beforeRun?: (task: NodeTask) => void;
}

export function createNodeActivities(deps: NodeDeps): NodeActivities {
  const behaviour = deps.behaviour ?? 'honest';
  return {
    async runSubJob(task: NodeTask): Promise<NodeResult> {
      const ctx = Context.current();
      const log = deps.logger.child({ jobId: task.jobId, subJobId: task.subJobId, nodeId: deps.nodeId });
      if (behaviour === 'decline') {
        log.info('declining SubJob');
        throw ApplicationFailure.nonRetryable(
          `node ${deps.nodeId} declines SubJob ${task.subJobId}`,
          DECLINE_ERROR,
        );
      }
      const started = Date.now();
      ctx.heartbeat({ phase: 'starting', rows: task.shard.rows });
      const beat = setInterval(
        () => ctx.heartbeat({ phase: 'running', rows: task.shard.rows, elapsedMs: Date.now() - started }),
        deps.heartbeatMs ?? 2000,
      );
      try {
        if (behaviour === 'slow') await new Promise((r) => setTimeout(r, deps.slowMs ?? 60_000));
        deps.beforeRun?.(task);
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
        let output = out.outputBlobId;
        if (behaviour === 'lie') output = await corrupt(deps.store, output);
        const unsigned = { subJobId: task.subJobId, output, fuelUsed: out.fuelUsed };
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

/**
 * A lying node's output: plausible shape, wrong numbers (a matrix); for an output that is not a
 * plain matrix (a CKKS ciphertext), one flipped byte in the middle — tampering in transit or at rest.
 */
async function corrupt(store: BlobStore, blobId: string): Promise<string> {
  const bytes = await store.get(blobId);
  let m;
  try {
    m = decodeMatrix(bytes);
  } catch {
    const tampered = Uint8Array.from(bytes);
    const mid = tampered.length >> 1;
    tampered[mid] = (tampered[mid] ?? 0) ^ 0x5a;
    return store.put(tampered);
  }
  const data = Float32Array.from(m.data, (v, i) => (i % 7 === 0 ? v + 0.5 : v));
  return store.put(encodeMatrix({ ...m, data }));
}

/**
 * Fault drill `tamper-shard`: the SubJob's shard arrives with one ciphertext byte flipped after
 * the store's hash check, as if altered in memory or on a path that does not re-hash. AES-256-GCM
 * must refuse it.
 */
export function shardTamperDrill(): {
  beforeRun: (task: NodeTask) => void;
  onEnvelope: (id: string, envelope: Uint8Array) => Uint8Array;
} {
  const shards = new Set<string>();
  return {
    beforeRun: (task) => void shards.add(task.shard.blobId),
    onEnvelope(id, envelope) {
      if (!shards.has(id)) return envelope;
      const altered = Uint8Array.from(envelope);
      altered[altered.length - 1] = altered[altered.length - 1]! ^ 0x01;
      return altered;
    },
  };
}
