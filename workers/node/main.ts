// The node worker binary: `emeth node start --key-file <0600 file> --class <name>` (or EMETH_KEY). One per GPU host.
import { parseArgs } from 'node:util';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../../lib/config';
import { participantKey } from '../../lib/participant-key';
import { bindRequestScope, requestScope } from '../../lib/request-auth';
import { createLogger } from '../../lib/logger';
import { parseEmeth } from '../../lib/fees';
import { taskQueues } from '../../lib/task-queues';
import { createGatewayBlobStore } from '../../activities/storage-gateway';
import { createNodeActivities, nodeL1Of } from '../../activities/node';
import { SerialSigner } from '../../contracts/serial-signer';
import { createChainTx, createL1Activities } from '../../activities/chain';
import { emethDomain } from '../../lib/tickets';
import { sealingKeysOf } from '../../lib/envelope';
import { detectCuda } from '../../activities/programs';
import { readDeployment } from '../shared/deployment';
import { chainSigner, participantTemporal } from '../shared/connect';
import { programRegistry } from '../shared/programs';
import { announceReady } from '../shared/ready';
import { announce, ensureStake } from './register';
import { startRedeemer } from './redeemer';
import { NODE_BEHAVIOURS, drillFor, type NodeBehaviour } from './drills';
import { createWarmSessions } from '../../activities/inference/node';
import { openServingStream } from './serving';
import type { Tensor } from '../../lib/tensors';

export async function runNode(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      // Refused with a sentence: a key on argv is visible in ps (lib/participant-key).
      key: { type: 'string' },
      'key-file': { type: 'string' },
      class: { type: 'string', default: 'cpu' },
      stake: { type: 'string', default: '100' },
      'min-holon-per-gas': { type: 'string', default: '0' },
      'redeem-max-wait': { type: 'string', default: '3600' },
      behaviour: { type: 'string', default: 'honest' },
      'slow-ms': { type: 'string', default: '60000' },
      // Cheating drills (lazy, partial, farmer): rows a partial liar changes; SubJobs answered honestly first.
      'corrupt-rows': { type: 'string', default: '1' },
      'honest-first': { type: 'string' },
      // scaled: the factor the honest training update is multiplied by.
      scale: { type: 'string', default: '10' },
    },
    strict: true,
  });
  const behaviour = values.behaviour as NodeBehaviour;
  if (!NODE_BEHAVIOURS.includes(behaviour))
    throw new Error(
      `--behaviour must be one of ${NODE_BEHAVIOURS.join(', ')} (all but honest are fault drills)`,
    );

  const config = loadConfig();
  const key = participantKey({
    role: 'node',
    keyFile: values['key-file'],
    envKey: config.participantKey,
    argvKey: values.key,
  });
  const { provider, wallet } = chainSigner(config, key);
  // One nonce counter for every send of this key: its stake, its L1 steps and its redemptions.
  const signer = new SerialSigner(wallet, provider);
  const nodeId = wallet.address.toLowerCase();
  const logger = createLogger(config.logLevel, { component: 'node', nodeId });
  const deployment = readDeployment(config.chain.deploymentFile);
  const l1 = nodeL1Of(createL1Activities(createChainTx({ provider, signer, deployment, logger })));
  // Every gateway request this node signs names the gateway and the chain it is meant for.
  const scope = requestScope(config.gateway.url, deployment.chainId);
  bindRequestScope(wallet, scope);
  bindRequestScope(signer, scope);

  const keys = sealingKeysOf(key);
  const stake = await ensureStake(
    signer,
    deployment,
    parseEmeth(values.stake!),
    values.class!,
    keys.x25519.publicKey,
  );
  await announce(config.gateway.url, wallet, values.class!, keys.x25519.publicKey);
  // Only `--behaviour` other than honest wraps the node in a fault drill (tests, the demo).
  const domain = emethDomain(deployment.chainId, deployment.core);
  const drill = drillFor(behaviour, {
    store: () => store,
    slowMs: Number(values['slow-ms']),
    l1,
    signer: wallet,
    domain,
    corruptRows: count('--corrupt-rows', values['corrupt-rows']!),
    scale: count('--scale', values.scale!),
    ...(values['honest-first'] !== undefined
      ? { honestFirst: count('--honest-first', values['honest-first']) }
      : {}),
    logger,
  });
  const store = createGatewayBlobStore(config.gateway.url, wallet, keys, { onEnvelope: drill.onEnvelope });
  const programs = programRegistry(store, logger);
  const cuda = detectCuda();
  logger.info(
    { cuda: cuda.available, reason: cuda.reason, stake: stake.toString(), class: values.class },
    cuda.available ? 'CUDA execution provider available' : 'running on the CPU execution provider',
  );

  // Deployments this node serves (paper 5-1): warm sessions, loaded by the deployment workflow and
  // answered over the serving stream the node dials out to the gateway.
  const inference = createWarmSessions({
    nodeId,
    store,
    logger,
    ...(behaviour === 'lie-serving' ? { alterOutputs: moveFloats } : {}),
  });
  const serving = openServingStream({
    gatewayUrl: config.gateway.url,
    signer: wallet,
    sessions: inference.sessions,
    logger,
  });

  const { connection, close, dataConverter } = await participantTemporal(
    config,
    wallet,
    'node',
    deployment.chainId,
    key,
  );
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    dataConverter,
    taskQueue: taskQueues(config.temporal.taskQueuePrefix).node(nodeId),
    activities: {
      ...inference.activities,
      ...drill.activities(
        createNodeActivities({
          nodeId,
          signer: wallet,
          domain,
          program: drill.program(programs.program),
          store,
          l1,
          logger,
        }),
      ),
    },
    // One SubJob at a time: the node's compute is the scarce resource.
    maxConcurrentActivityTaskExecutions: 1,
  });
  const redeemer = startRedeemer({
    gatewayUrl: config.gateway.url,
    signer,
    deployment,
    logger,
    minHolonPerGas: BigInt(values['min-holon-per-gas']!),
    maxWaitMs: Number(values['redeem-max-wait']) * 1000,
  });
  logger.info({ taskQueue: taskQueues(config.temporal.taskQueuePrefix).node(nodeId) }, 'node ready');
  announceReady(`node ${wallet.address.toLowerCase()}`);
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  await serving.stop();
  await redeemer.stop();
  await programs.close();
  await close();
  provider.destroy();
}

/** The lie-serving drill: every float output moved by +1 (a canary or a sampled check must catch it). */
function moveFloats(outputs: Tensor[]): Tensor[] {
  return outputs.map((t) =>
    t.data instanceof Float32Array || t.data instanceof Float64Array
      ? { ...t, data: t.data.map((v) => v + 1) as typeof t.data }
      : t,
  );
}

/** A non-negative integer option, or a sentence saying what to give. */
function count(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a whole number ≥ 0, got '${text}'`);
  return n;
}

if (require.main === module) {
  runNode(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`emeth node: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
