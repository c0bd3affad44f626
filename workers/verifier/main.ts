// The verifier worker binary: `emeth verifier start --key-file <0600 file>` (or EMETH_KEY), consuming
// `emeth-verifier` (first verdicts) and its own queue (the audits and disputes the L2 sends it),
// staking on EmethCore (what a verdict an audit overrules costs it) and redeeming its own fee
// tickets (no node redeems them for it).
import { participantIdentity } from '../shared/identity';
import { parseArgs } from 'node:util';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { taskQueues } from '../../lib/task-queues';
import { createGatewayBlobStore } from '../../activities/storage-gateway';
import { sealingKeysOf } from '../../lib/envelope';
import { createVerifierActivities } from '../../activities/verifier';
import { createInferenceVerifierActivities } from '../../activities/inference/verifier';
import { programRegistry } from '../shared/programs';
import { announceReady } from '../shared/ready';
import { chainSigner, participantTemporal } from '../shared/connect';
import { startRedeemer } from '../shared/redeemer';
import { bindRequestScope, requestScope } from '../../lib/request-auth';
import { emethDomain } from '../../lib/tickets';
import { parseEmeth } from '../../lib/fees';
import { ensureStake } from '../shared/stake';
import { SerialSigner } from '../../contracts/serial-signer';
import { createChainTx, createL1Activities } from '../../activities/chain';
import { verifierBehaviourOf, verifierDrill } from './drills';
import type { Signer } from 'ethers';
import type { Logger } from '../../lib/logger';
import type { Deployment } from '../../lib/types-chain';

/** The capability class a verifier's stake is registered under on EmethCore: no node's, so no SubJob's. */
const VERIFIER_CLASS = 'verifier';

/** Stakes `amount` if the verifier has none yet and holds enough EMETH; otherwise says why it runs unstaked. */
async function stakeIfFunded(
  signer: Signer,
  deployment: Deployment,
  amount: bigint,
  key: string,
  logger: Logger,
): Promise<bigint> {
  if (amount === 0n) return 0n;
  try {
    return await ensureStake(signer, deployment, amount, VERIFIER_CLASS, sealingKeysOf(key).x25519.publicKey);
  } catch (err) {
    // Unstaked, it still gives first verdicts, but is never chosen to audit or referee.
    logger.warn(
      { err: (err as Error).message },
      'verifier runs without stake: it will not be asked to audit',
    );
    return 0n;
  }
}

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
      // EMETH staked at start when the verifier has none: a wrong verdict is fined from it.
      stake: { type: 'string', default: '100' },
      // Serve only audits and disputes addressed to this verifier, no first verdicts.
      'audit-only': { type: 'boolean', default: false },
      // A fault drill for tests: approve-all / reject-all sign verdicts without checking.
      behaviour: { type: 'string', default: 'honest' },
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
  const store = createGatewayBlobStore(config.gateway.url, wallet, sealingKeysOf(key));
  const programs = programRegistry(store, logger);
  const { connection, close, dataConverter } = await participantTemporal(
    config,
    wallet,
    'verifier',
    deployment.chainId,
    key,
  );
  const behaviour = verifierBehaviourOf(values.behaviour!);
  const chain = chainSigner(config, key);
  // One nonce counter for every send of this key: its stake, its L1 verdicts and its redemptions.
  const sender = new SerialSigner(chain.wallet, chain.provider);
  bindRequestScope(sender, requestScope(config.gateway.url, deployment.chainId));
  const stake = await stakeIfFunded(sender, deployment, parseEmeth(values.stake!), key, logger);
  const l1 = createL1Activities(
    createChainTx({ provider: chain.provider, signer: sender, deployment, logger }),
  );
  const activities = {
    // Served inference: sampled requests and canaries re-run on the verifier's own session.
    ...createInferenceVerifierActivities({ signer: wallet, store, logger }),
    ...verifierDrill(
      behaviour,
      createVerifierActivities({
        signer: wallet,
        domain: emethDomain(deployment.chainId, deployment.core),
        keys: sealingKeysOf(key).x25519,
        program: programs.program,
        store,
        l1,
        logger,
      }),
      { signer: wallet, domain: emethDomain(deployment.chainId, deployment.core) },
    ),
  };
  const queues = taskQueues(config.temporal.taskQueuePrefix);
  const own = queues.verifierOf(wallet.address);
  const workers = await Promise.all(
    [...(values['audit-only'] ? [] : [queues.verifier]), own].map((taskQueue) =>
      Worker.create({
        connection,
        namespace: config.temporal.namespace,
        dataConverter,
        taskQueue,
        activities,
        maxConcurrentActivityTaskExecutions: 2,
      }),
    ),
  );
  // Its fee tickets pay it alone: it redeems them itself, whether or not the SubJobs' nodes redeem theirs.
  const redeemer = startRedeemer({
    gatewayUrl: config.gateway.url,
    signer: sender,
    deployment,
    logger,
    minHolonPerGas: BigInt(values['min-holon-per-gas']!),
    maxWaitMs: Number(values['redeem-max-wait']) * 1000,
  });
  logger.info(
    { taskQueues: workers.map((w) => w.options.taskQueue), stake: stake.toString(), behaviour },
    'verifier ready',
  );
  announceReady(`verifier ${wallet.address.toLowerCase()}`);
  const stop = () => {
    for (const w of workers) w.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await Promise.all(workers.map((w) => w.run()));
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
