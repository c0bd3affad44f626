import type { Signer } from 'ethers';
import { verifyMessage } from 'ethers';
import type { Logger } from '../lib/logger';
import {
  nodeResultMessage,
  verdictMessage,
  type Verdict,
  type VerifierActivities,
  type VerifyTask,
} from '../lib/pipeline';
import type { ProgramModule } from '../lib/programs';

export interface VerifierDeps {
  signer: Signer;
  program(programId: number): ProgramModule;
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
      const signer = verifyMessage(
        nodeResultMessage(task.result, task.attempt),
        task.result.signature,
      ).toLowerCase();
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
          claimedValues: task.plainUpdate,
          context: { jobId: task.jobId, subJobId: task.subJobId, nodeId: task.result.nodeId },
        });
        valid = v.ok;
        reason = v.reason;
        rowsChecked = v.rowsChecked;
        // JSON has no Infinity (a NaN disagreement): keep the verdict serialisable.
        maxDiff = Number.isFinite(v.worstDiff) ? v.worstDiff : Number.MAX_VALUE;
        fuelUsed = v.fuelExpected;
      }
      const unsigned = { subJobId: task.subJobId, valid, verifier, rowsChecked, maxDiff, fuelUsed, reason };
      const signature = await deps.signer.signMessage(verdictMessage(unsigned));
      log.info({ valid, rowsChecked, maxDiff, sampleRate: task.sampleRate, reason }, 'verdict');
      return { ...unsigned, signature };
    },
  };
}
