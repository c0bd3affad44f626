/**
 * The program registry: ProgramId → module factory. Only onnx-inference is implemented; the other
 * specs are declared (lib/programs.ts) so the gateway can name them and refuse them clearly.
 */
import { EmethError } from '../../lib/errors';
import { PROGRAM_SPECS, getProgramSpec, type ProgramModule, type ProgramSpec } from '../../lib/programs';
import { createOnnxInferenceProgram, type OnnxInferenceDeps } from './onnx-inference';

/** What every program factory may need; each takes the parts it uses. */
export type ProgramDeps = OnnxInferenceDeps;

export interface ProgramEntry {
  spec: ProgramSpec;
  /** Absent for programs declared but not implemented yet. */
  create?: (deps: ProgramDeps) => ProgramModule;
}

export const PROGRAMS: readonly ProgramEntry[] = PROGRAM_SPECS.map((spec) => ({
  spec,
  create: spec.name === 'onnx-inference' ? createOnnxInferenceProgram : undefined,
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
export type { OnnxInferenceDeps, OnnxInferenceProgram } from './onnx-inference';
export { createOnnxSession, detectCuda, DEFAULT_BATCH_SIZE } from './onnx-runtime';
export type { OnnxSession, OnnxSessionOptions, CudaAvailability } from './onnx-runtime';
export { inspectModel } from './onnx-model';
export type { ModelInfo } from './onnx-model';
