// The node edge binary: `tsx workers/edge/main.ts --listen 0.0.0.0:7243 [--endpoint host:port]
// [--tls-cert cert.pem --tls-key key.pem]`. Forwards to the configured Temporal frontend.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { JsonRpcProvider } from 'ethers';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { readDeployment } from '../shared/deployment';
import { announceReady } from '../shared/ready';
import { chainRegistry } from './registry';
import { startNodeEdge } from './server';

export async function runEdge(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: '127.0.0.1:7243' },
      endpoint: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
    },
    strict: true,
  });
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key']))
    throw new Error('--tls-cert and --tls-key go together (PEM files of the edge certificate and its key)');
  const config = loadConfig();
  const logger = createLogger(config.logLevel, { component: 'node-edge' });
  const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0 });
  const deployment = readDeployment(config.chain.deploymentFile);
  const edge = await startNodeEdge({
    listen: values.listen!,
    endpoint: values.endpoint,
    upstream: config.temporal.address,
    namespace: config.temporal.namespace,
    chainId: config.chain.chainId,
    taskQueuePrefix: config.temporal.taskQueuePrefix,
    isRegistered: chainRegistry({ core: deployment.core, runner: provider, verifiers: config.l2.verifiers }),
    tls: values['tls-cert']
      ? { cert: fs.readFileSync(values['tls-cert']), key: fs.readFileSync(values['tls-key']!) }
      : undefined,
    logger,
  });
  announceReady(`node-edge ${edge.endpoint}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await edge.close();
  provider.destroy();
}

if (require.main === module) {
  runEdge(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`emeth edge: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
