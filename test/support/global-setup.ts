import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startTemporalDevServer, type TemporalDevServer } from '../../cli/stack/temporal';

declare global {
  var __EMETH_TEMPORAL__: TemporalDevServer | undefined;
}

/**
 * One real Temporal dev server (in memory, headless, EMETH's search attributes registered) for the
 * whole run; suites isolate themselves by task queue and workflow id. Its address reaches the test
 * workers through EMETH_TEST_TEMPORAL_ADDRESS. EMETH_TEST_NO_TEMPORAL=1 skips it while iterating
 * on suites that do not need it.
 */
export default async function globalSetup(): Promise<void> {
  // One payload codec key for the run, so test clients, workers and spawned processes agree.
  process.env.EMETH_CODEC_KEYS ||= `test:${randomBytes(32).toString('base64')}`;
  if (process.env.EMETH_TEST_NO_TEMPORAL === '1') return;
  const t0 = Date.now();
  const logFile = path.join(os.tmpdir(), `emeth-test-temporal-${process.pid}.log`);
  const server = await startTemporalDevServer({ headless: true, logFile });
  globalThis.__EMETH_TEMPORAL__ = server;
  process.env.EMETH_TEST_TEMPORAL_ADDRESS = server.address;
  process.stderr.write(
    `\n[test] Temporal dev server on ${server.address} (${Date.now() - t0} ms, log ${logFile})\n`,
  );
}
