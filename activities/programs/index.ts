/**
 * The program registry: ProgramId → module factory. onnx-inference, fedavg-train and
 * encrypted-stats are implemented; a spec marked not implemented (lib/programs.ts) is declared so
 * the gateway can name it and refuse it clearly.
 */
import { EmethError } from '../../lib/errors';
import { PROGRAM_SPECS, getProgramSpec, type ProgramModule, type ProgramSpec } from '../../lib/programs';
import { createEncryptedStatsProgram } from './encrypted-stats';
import { createFedAvgTrainProgram, type FedAvgTrainDeps } from './fedavg-train';
import { createOnnxInferenceProgram, type OnnxInferenceDeps } from './onnx-inference';

/** What every program factory may need; each takes the parts it uses. */
export type ProgramDeps = OnnxInferenceDeps & Omit<FedAvgTrainDeps, 'store' | 'logger'>;

const FACTORIES: Record<string, (deps: ProgramDeps) => ProgramModule> = {
  'onnx-inference': createOnnxInferenceProgram,
  'fedavg-train': createFedAvgTrainProgram,
  'encrypted-stats': createEncryptedStatsProgram,
};

export interface ProgramEntry {
  spec: ProgramSpec;
  /** Absent for programs declared but not implemented yet. */
  create?: (deps: ProgramDeps) => ProgramModule;
}

export const PROGRAMS: readonly ProgramEntry[] = PROGRAM_SPECS.map((spec) => ({
  spec,
  create: spec.implemented ? FACTORIES[spec.name] : undefined,
}));

/** The registry entry for a parent or SubJob ProgramId; throws for unknown ids. */
export function programEntryFor(programId: number): ProgramEntry {
  const spec = getProgramSpec(programId);
  return PROGRAMS.find((p) => p.spec === spec)!;
}

/** Builds the module for a parent or SubJob ProgramId; throws for unknown or not-yet-implemented ones. */
export function programFor(programId: number, deps: ProgramDeps): ProgramModule {
  const entry = programEntryFor(programId);
  if (!entry.create) {
    throw new EmethError(
      'PROGRAM_NOT_IMPLEMENTED',
      `program ${entry.spec.name} (ProgramId ${entry.spec.programId}) is declared but not implemented yet; ` +
        `implemented: ${PROGRAMS.filter((p) => p.create)
          .map((p) => p.spec.name)
          .join(', ')}`,
    );
  }
  return entry.create(deps);
}

export { createOnnxInferenceProgram } from './onnx-inference';
export { createFedAvgTrainProgram } from './fedavg-train';
export { createEncryptedStatsProgram, decodeStats } from './encrypted-stats';
export type { EncryptedStatsDeps, ColumnStats } from './encrypted-stats';
export type { FedAvgTrainDeps, FedAvgTrainProgram } from './fedavg-train';
export type { OnnxInferenceDeps, OnnxInferenceProgram } from './onnx-inference';
export { createOnnxSession, detectCuda, DEFAULT_BATCH_SIZE } from './onnx-runtime';
export type { OnnxSession, OnnxSessionOptions, CudaAvailability } from './onnx-runtime';
export { inspectModel, readModel } from './onnx-model';
export { modelCostOf } from './onnx-fuel';
export type { ModelInfo } from './onnx-model';
