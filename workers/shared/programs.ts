import type { Logger } from '../../lib/logger';
import type { ProgramModule } from '../../lib/programs';
import type { BlobStore } from '../../activities/storage';
import { programFor } from '../../activities/programs';
import { createCkks } from '../../activities/crypto/ckks';

/** One program module per ProgramId, built lazily over a store and kept for the process's life. */
export function programRegistry(
  store: BlobStore,
  logger: Logger,
): { program(id: number): ProgramModule; close(): Promise<void> } {
  const modules = new Map<string, ProgramModule>();
  return {
    program(id: number) {
      const key = String(id);
      let m = modules.get(key);
      if (!m) {
        m = programFor(id, { store, logger, ckks: () => createCkks() });
        modules.set(key, m);
      }
      return m;
    },
    async close() {
      for (const m of modules.values()) await m.close();
    },
  };
}
