/** What `/healthz` reports: one entry per part of the stack, each up or down with a reason. */
export type PartName = 'gateway' | 'database' | 'temporal' | 'chain' | 'worker';

export interface PartHealth {
  up: boolean;
  /** Where the part is (address, URL, block height); no secrets. */
  detail?: string;
  error?: string;
}

export interface HealthReport {
  status: 'up' | 'down';
  parts: Record<PartName, PartHealth>;
  checkedAt: string;
}

export type HealthProbe = () => Promise<PartHealth>;

/** Runs every probe at once; a probe that throws or exceeds `timeoutMs` counts as down. */
export async function checkHealth(
  probes: Record<PartName, HealthProbe>,
  timeoutMs = 2000,
): Promise<HealthReport> {
  const names = Object.keys(probes) as PartName[];
  const results = await Promise.all(
    names.map(async (name): Promise<PartHealth> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<PartHealth>((resolve) => {
        timer = setTimeout(
          () => resolve({ up: false, error: `no answer within ${timeoutMs} ms` }),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([probes[name](), timeout]);
      } catch (e) {
        return { up: false, error: e instanceof Error ? e.message : String(e) };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const parts = Object.fromEntries(names.map((n, i) => [n, results[i]])) as Record<PartName, PartHealth>;
  return { status: results.every((r) => r.up) ? 'up' : 'down', parts, checkedAt: new Date().toISOString() };
}
