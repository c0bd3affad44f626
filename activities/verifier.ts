import type { Signer } from 'ethers';
import { verifyMessage } from 'ethers';
import type { Logger } from '../lib/logger';
import { nodeResultMessage, verdictMessage, type Verdict, type VerifierActivities, type VerifyTask } from '../lib/pipeline';
import type { ProgramModule } from '../lib/programs';
import { decodeMatrix } from '../lib/matrix';
import type { BlobStore } from './storage';
import {
  compareUpdates,
  loadModel,
  localOptions,
  recomputeUpdate,
  type FedAvgTrainProgram,
} from './programs/fedavg-train';
import { parseFedAvgParams } from './programs/fedavg-format';

export interface VerifierDeps {
  signer: Signer;
  program(programId: number): ProgramModule;
  store: BlobStore;
  logger: Logger;
}

/** The third-party verifier: re-executes a sample of the SubJob and signs its verdict. */
export function createVerifierActivities(deps: VerifierDeps): VerifierActivities {
  return {
    async verifySubJob(task: VerifyTask): Promise<Verdict> {
      const verifier = (await deps.signer.getAddress()).toLowerCase();
      const log = deps.logger.child({ jobId: task.jobId, subJobId: task.subJobId, nodeId: task.result.nodeId });
      let valid: boolean;
      let reason: string | undefined;
      let rowsChecked = 0;
      let maxDiff = 0;
      let fuelUsed = task.result.fuelUsed;
      const signer = verifyMessage(nodeResultMessage(task.result, task.attempt), task.result.signature).toLowerCase();
      if (signer !== task.result.nodeId.toLowerCase()) {
        valid = false;
        reason = `the result is signed by ${signer}, not by the assigned node ${task.result.nodeId}`;
      } else {
        const v = await deps.program(task.programId).verify({
          shard: task.shard,
          modelBlobId: task.modelBlobId,
          fuelLimit: task.fuelLimit,
          claimed: { outputBlobId: task.result.output, fuelUsed: task.result.fuelUsed },
          options: { sampleRate: task.sampleRate, seed: task.seed },
          params: task.params,
          context: { jobId: task.jobId, subJobId: task.subJobId, nodeId: task.result.nodeId },
        });
        valid = v.ok;
        reason = v.reason;
        rowsChecked = v.rowsChecked;
        // JSON has no Infinity (a NaN disagreement): keep the verdict serialisable.
        maxDiff = Number.isFinite(v.worstDiff) ? v.worstDiff : Number.MAX_VALUE;
        fuelUsed = v.fuelExpected;
        if (valid && task.plainUpdate) {
          // Training: recompute this shard's update from the same global model and compare it
          // with the node's, as the requester's keyholder decrypted it.
          const check = await checkTrainingUpdate(deps, task);
          valid = check.ok;
          reason = check.reason;
          rowsChecked = task.shard.rows;
          maxDiff = Number.isFinite(check.worstDiff) ? check.worstDiff : Number.MAX_VALUE;
        }
      }
      const unsigned = { subJobId: task.subJobId, valid, verifier, rowsChecked, maxDiff, fuelUsed, reason };
      const signature = await deps.signer.signMessage(verdictMessage(unsigned));
      log.info({ valid, rowsChecked, maxDiff, sampleRate: task.sampleRate, reason }, 'verdict');
      return { ...unsigned, signature };
    },
  };
}

async function checkTrainingUpdate(deps: VerifierDeps, task: VerifyTask) {
  const program = deps.program(task.programId) as FedAvgTrainProgram;
  const params = parseFedAvgParams(task.params);
  const [trainer, globalModel, shardBytes] = await Promise.all([
    program.trainerFor(params.trainGraphBlobId),
    loadModel(deps.store, task.modelBlobId),
    deps.store.get(task.shard.blobId),
  ]);
  const expected = await recomputeUpdate({ trainer, globalModel, shard: decodeMatrix(shardBytes), local: localOptions(params) });
  return compareUpdates(expected, task.plainUpdate!, program.spec.tolerance);
}
