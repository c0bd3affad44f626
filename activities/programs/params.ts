/**
 * The Job parameter schema of every program, keyed by ProgramId: the gateway composes the
 * POST /v1/jobs body from these (one variant per program), checks the listed blob fields against
 * EMETH Storage and its access rules (which parameter is the model is the spec's `modelParam`).
 * Pure: zod and lib/ only.
 */
import type { z } from 'zod';
import { ProgramId } from '../../lib/programs';
import { encryptedStatsParams, type EncryptedStatsParams } from './encrypted-stats-params';
import { fedAvgTrainParams, type FedAvgTrainParams } from './fedavg-train-params';
import { onnxInferenceParams, type OnnxInferenceParams } from './onnx-inference-params';

export interface ProgramParams {
  /** The program's parameters under their REST names; unknown names are refused. */
  schema: z.ZodObject;
  /** The parameters that are blob ids: each must exist and be readable by the requester. */
  blobFields: readonly string[];
}

export const PROGRAM_PARAMS: Readonly<Record<number, ProgramParams>> = {
  [ProgramId.ONNX_INFERENCE]: { schema: onnxInferenceParams, blobFields: ['model'] },
  [ProgramId.FEDAVG_TRAIN]: {
    schema: fedAvgTrainParams,
    blobFields: ['trainGraph', 'publicKey', 'initialModel', 'testSet'],
  },
  [ProgramId.ENCRYPTED_STATS]: {
    schema: encryptedStatsParams,
    blobFields: ['publicKey'],
  },
};

/** Any program's parameters, each optional: what a checked Job body may carry besides the common fields. */
export type AnyProgramFields = Partial<OnnxInferenceParams> &
  Partial<Omit<FedAvgTrainParams, 'numEpoch'>> &
  Partial<Omit<EncryptedStatsParams, 'numEpoch'>> & { numEpoch?: number };

/** The parameters of a parent ProgramId, or undefined when no program module declares any. */
export function programParamsOf(programId: number): ProgramParams | undefined {
  return Object.hasOwn(PROGRAM_PARAMS, programId) ? PROGRAM_PARAMS[programId] : undefined;
}
