// Entry point of the L2 server process (`tsx workers/l2/main.ts`), started by `emeth up`.
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { startL2Server } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, { component: 'l2' });
  const server = await startL2Server(config, logger);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'L2 server stopping');
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`emeth l2: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
