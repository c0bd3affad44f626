// The verifier worker binary: `emeth verifier start --key-file <0600 file>` (or EMETH_KEY), consuming
// `emeth-verifier`, and redeeming its own fee tickets on EmethCore (no node redeems them for it).
import { participantIdentity } from '../shared/identity';
import { parseArgs } from 'node:util';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { taskQueues } from '../../lib/task-queues';
import { createGatewayBlobStore } from '../../activities/storage-gateway';
import { sealingKeysOf } from '../../lib/envelope';
import { createVerifierActivities } from '../../activities/verifier';
import { programRegistry } from '../shared/programs';
import { announceReady } from '../shared/ready';
import { chainSigner, participantTemporal } from '../shared/connect';
import { startRedeemer } from '../shared/redeemer';
import { bindRequestScope, requestScope } from '../../lib/request-auth';
import { emethDomain } from '../../lib/tickets';

export async function runVerifier(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    // --key is refused with a sentence: a key on argv is visible in ps (lib/participant-key).
    options: {
      key: { type: 'string' },
      'key-file': { type: 'string' },
      // As a node's: redeem only batches paying this many holon per unit of gas, unless they waited this long (s).
      'min-holon-per-gas': { type: 'string', default: '0' },
      'redeem-max-wait': { type: 'string', default: '3600' },
    },
    strict: true,
  });
  const config = loadConfig();
  const { key, deployment, wallet } = participantIdentity(config, 'verifier', values);
  const logger = createLogger(config.logLevel, {
    component: 'verifier',
    nodeId: wallet.address.toLowerCase(),
  });
  if (!config.l2.verifiers.includes(wallet.address.toLowerCase())) {
    logger.warn(
      { verifiers: config.l2.verifiers },
      'this key is not in EMETH_VERIFIERS: the L2 will refuse its verdicts',
    );
  }
  const programs = programRegistry(
    createGatewayBlobStore(config.gateway.url, wallet, sealingKeysOf(key)),
    logger,
  );
  const { connection, close, dataConverter } = await participantTemporal(
    config,
    wallet,
    'verifier',
    deployment.chainId,
    key,
  );
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    dataConverter,
    taskQueue: taskQueues(config.temporal.taskQueuePrefix).verifier,
    activities: createVerifierActivities({
      signer: wallet,
      domain: emethDomain(deployment.chainId, deployment.core),
      keys: sealingKeysOf(key).x25519,
      program: programs.program,
      logger,
    }),
    maxConcurrentActivityTaskExecutions: 2,
  });
  // Its fee tickets pay it alone: it redeems them itself, whether or not the SubJobs' nodes redeem theirs.
  const chain = chainSigner(config, key);
  bindRequestScope(chain.signer, requestScope(config.gateway.url, deployment.chainId));
  const redeemer = startRedeemer({
    gatewayUrl: config.gateway.url,
    signer: chain.signer,
    deployment,
    logger,
    minHolonPerGas: BigInt(values['min-holon-per-gas']!),
    maxWaitMs: Number(values['redeem-max-wait']) * 1000,
  });
  logger.info({ taskQueue: taskQueues(config.temporal.taskQueuePrefix).verifier }, 'verifier ready');
  announceReady(`verifier ${wallet.address.toLowerCase()}`);
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  await redeemer.stop();
  await programs.close();
  await close();
  chain.provider.destroy();
}

if (require.main === module) {
  runVerifier(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`emeth verifier: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
