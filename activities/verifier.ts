import type { Signer, TypedDataDomain } from 'ethers';
import type { Logger } from '../lib/logger';
import type { NodeTask, Verdict, VerifierActivities, VerifyTask } from '../lib/pipeline';
import type { ProgramModule } from '../lib/programs';
import { blobDigest, resultBindingProblem, signVerdict } from '../lib/attestations';
import { errorCodeOf } from '../lib/errors';
import type { X25519KeyPair } from '../lib/envelope';
import { openSealedValues } from './keyholder';
import type { BlobStore } from './storage';
import type { L1Activities } from './chain/l1';
import { ChainStateError } from './chain/tx';
import { SubJobStatus } from '../lib/types-chain';

export interface VerifierDeps {
  signer: Signer;
  /** The EIP-712 domain results and verdicts are signed under (EmethCore's). */
  domain: TypedDataDomain;
  /** The verifier's X25519 keys: a training update the keyholder opened is sealed to them. */
  keys: X25519KeyPair;
  program(programId: number): ProgramModule;
  /** The blob store the verifier reads outputs through (opening what is sealed to it). */
  store: Pick<BlobStore, 'get'>;
  /** The L1 market with the verifier's own key (VERIFIER_ROLE): it verifies, rejects and times out L1 SubJobs. */
  l1?: Pick<L1Activities, 'getSubJob' | 'verifySubJob' | 'rejectSubJob' | 'timeoutSubJob'>;
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

    async actOnL1({ jobId, index, action, attempt, expect }) {
      if (!deps.l1) throw new ChainStateError('this verifier has no chain key configured for L1 Jobs');
      const log = deps.logger.child({ jobId, subJobIndex: index, action });
      if (expect && action !== 'timeout') {
        // The verifier pays (or fines) only the result it was shown: the chain must hold exactly it.
        const s = await deps.l1.getSubJob(jobId, index);
        const settled = s.status === SubJobStatus.Verified || s.status === SubJobStatus.Failed;
        const held =
          s.node?.toLowerCase() === expect.node.toLowerCase() &&
          s.resultDigest === expect.resultDigest &&
          s.fuelUsed === expect.fuelUsed;
        if (!settled && !(s.status === SubJobStatus.Submitted && held)) {
          throw new ChainStateError(
            `SubJob ${jobId}#${index} on chain (${SubJobStatus[s.status]}, node ${s.node}, digest ${s.resultDigest}, fuel ${s.fuelUsed}) is not the result judged (node ${expect.node}, digest ${expect.resultDigest}, fuel ${expect.fuelUsed})`,
          );
        }
      }
      const tx =
        action === 'verify'
          ? await deps.l1.verifySubJob(jobId, index)
          : action === 'reject'
            ? await deps.l1.rejectSubJob(jobId, index, attempt)
            : await deps.l1.timeoutSubJob(jobId, index, attempt);
      log.info({ txHash: tx.txHash, alreadyDone: tx.alreadyDone }, `L1 ${action}`);
      return { alreadyDone: tx.alreadyDone, ...(tx.txHash ? { txHash: tx.txHash } : {}) };
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
