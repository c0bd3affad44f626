// The requester's keyholder: `emeth keyholder start --key-file <0600 file>` (or EMETH_KEY, the requester's key). It creates the
// requester's CKKS keys on first start, keeps the secret key in a 0600 file on this machine, uploads
// the public key, and serves `emeth-keyholder-<requester>`.
import { participantIdentity } from '../shared/identity';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { taskQueues } from '../../lib/task-queues';
import { createGatewayBlobStore } from '../../activities/storage-gateway';
import { sealingKeysOf } from '../../lib/envelope';
import { createKeyholderActivities } from '../../activities/keyholder';
import { createCkks } from '../../activities/crypto/ckks';
import { announceReady } from '../shared/ready';
import { participantTemporal } from '../shared/connect';

export async function runKeyholder(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    // --key is refused with a sentence: a key on argv is visible in ps (lib/participant-key).
    options: { key: { type: 'string' }, 'key-file': { type: 'string' }, dir: { type: 'string' } },
    strict: true,
  });
  const config = loadConfig();
  const { key, deployment, wallet } = participantIdentity(config, 'requester', values);
  const requester = wallet.address.toLowerCase();
  const logger = createLogger(config.logLevel, { component: 'keyholder' });
  const dir = values.dir ?? path.join(config.home, 'keyholder', requester);
  const ckks = await createCkks();
  const { publicKey, secretKey } = loadOrCreateKeys(dir, () => ckks.generateKeys());
  const store = createGatewayBlobStore(config.gateway.url, wallet, sealingKeysOf(key));
  const publicKeyBlob = await store.put(publicKey);
  logger.info(
    { requester, publicKeyBlob, dir },
    'CKKS public key uploaded; the secret key stays in this directory',
  );

  const queue = taskQueues(config.temporal.taskQueuePrefix).keyholder(requester);
  const { connection, close, dataConverter } = await participantTemporal(
    config,
    wallet,
    'keyholder',
    deployment.chainId,
    key,
  );
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: queue,
    dataConverter,
    activities: createKeyholderActivities({ store, ckks, secretKey, logger }),
  });
  announceReady(`keyholder ${requester} publicKey=${publicKeyBlob}`);
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  ckks.close();
  await close();
}

function loadOrCreateKeys(dir: string, generate: () => { publicKey: Uint8Array; secretKey: Uint8Array }) {
  const pub = path.join(dir, 'ckks-public.key');
  const sec = path.join(dir, 'ckks-secret.key');
  if (fs.existsSync(pub) && fs.existsSync(sec)) {
    return {
      publicKey: new Uint8Array(fs.readFileSync(pub)),
      secretKey: new Uint8Array(fs.readFileSync(sec)),
    };
  }
  const keys = generate();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(sec, keys.secretKey, { mode: 0o600 });
  fs.writeFileSync(pub, keys.publicKey, { mode: 0o644 });
  return keys;
}

if (require.main === module) {
  runKeyholder(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`emeth keyholder: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
