import type { Signer, TypedDataDomain } from 'ethers';
import type { Logger } from '../lib/logger';
import type { NodeTask, Verdict, VerifierActivities, VerifyTask } from '../lib/pipeline';
import type { ProgramModule } from '../lib/programs';
import { blobDigest, resultBindingProblem, signVerdict } from '../lib/attestations';
import { errorCodeOf } from '../lib/errors';
import type { X25519KeyPair } from '../lib/envelope';
import { openSealedValues } from './keyholder';
import type { BlobStore } from './storage';

export interface VerifierDeps {
  signer: Signer;
  /** The EIP-712 domain results and verdicts are signed under (EmethCore's). */
  domain: TypedDataDomain;
  /** The verifier's X25519 keys: a training update the keyholder opened is sealed to them. */
  keys: X25519KeyPair;
  program(programId: number): ProgramModule;
  /** The blob store the verifier reads outputs through (opening what is sealed to it). */
  store: Pick<BlobStore, 'get'>;
  logger: Logger;
}

/** The third-party verifier: re-executes a sample of the SubJob and signs its verdict. */
export function createVerifierActivities(deps: VerifierDeps): VerifierActivities {
  return {
    async verifySubJob(task: VerifyTask): Promise<Verdict> {
      const verifier = (await deps.signer.getAddress()).toLowerCase();
      const log = deps.logger.child({
        jobId: task.jobId,
        subJobId: task.subJobId,
        nodeId: task.result.nodeId,
      });
      let valid: boolean;
      let reason: string | undefined;
      let rowsChecked = 0;
      let maxDiff = 0;
      let fuelUsed = task.result.fuelUsed;
      const unbound = resultBindingProblem(deps.domain, nodeTaskOf(task), task.node, task.result);
      if (unbound) {
        valid = false;
        reason = unbound;
      } else {
        const v = await deps.program(task.programId).verify({
          shard: task.shard,
          modelBlobId: task.modelBlobId,
          fuelLimit: task.fuelLimit,
          claimed: { outputBlobId: task.result.output, fuelUsed: task.result.fuelUsed },
          options: { sampleRate: task.sampleRate, seed: task.seed },
          params: task.params,
          claimedValues: task.sealedUpdate ? openSealedValues(task.sealedUpdate, deps.keys) : undefined,
          context: { jobId: task.jobId, subJobId: task.subJobId, nodeId: task.result.nodeId },
        });
        valid = v.ok;
        reason = v.reason;
        rowsChecked = v.rowsChecked;
        // JSON has no Infinity (a NaN disagreement): keep the verdict serialisable.
        maxDiff = Number.isFinite(v.worstDiff) ? v.worstDiff : Number.MAX_VALUE;
        fuelUsed = v.fuelExpected;
      }
      const claim = {
        subJobId: task.subJobId,
        attempt: task.attempt,
        node: task.node.toLowerCase(),
        outputDigest: blobDigest(task.result.output),
        verifier,
        valid,
        fuelUsed,
        rowsChecked,
      };
      const signature = await signVerdict(deps.signer, deps.domain, claim);
      log.info({ valid, rowsChecked, maxDiff, sampleRate: task.sampleRate, reason }, 'verdict');
      return { ...claim, maxDiff, reason, signature };
    },

    async compareReplicas({ jobId, subJobId, outputs }) {
      const [a, b] = await Promise.all(outputs.map((o) => deps.store.get(o)));
      const identical = Buffer.from(a!).equals(Buffer.from(b!));
      deps.logger.info({ jobId, subJobId, identical, bytes: a!.length }, 'replicas compared');
      return { identical };
    },

    async reproduceFailure({ task, node, code, message }) {
      const log = deps.logger.child({ jobId: task.jobId, subJobId: task.subJobId, nodeId: node });
      try {
        await deps.program(task.programId).run({
          shard: task.shard,
          modelBlobId: task.modelBlobId,
          fuelLimit: task.fuelLimit,
          params: task.params,
          context: { jobId: task.jobId, subJobId: task.subJobId },
        });
      } catch (err) {
        const mine = errorCodeOf(err);
        const reproduced = mine === code;
        log.info({ reproduced, code, mine, message: (err as Error)?.message }, 'failure re-run');
        return { reproduced, code: mine, message: (err as Error)?.message ?? String(err) };
      }
      log.info({ code, message }, 'failure re-run: the input runs here');
      return { reproduced: false };
    },
  };
}

/** The task the node was handed, as the verifier was told it. */
function nodeTaskOf(t: VerifyTask): NodeTask {
  // Everything but what the workflow added for the verifier.
  const { node, sealedUpdate, result, sampleRate, seed, ...task } = t;
  return task;
}
