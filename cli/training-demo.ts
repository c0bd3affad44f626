import fs from 'node:fs';
import { isEnvelope } from '../lib/envelope';
import path from 'node:path';
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import type { EmethConfig } from '../lib/config';
import { DEV_ROLES, devKey } from '../lib/dev-accounts';
import { EMETH, GHOLON, formatEmeth } from '../lib/fees';
import { emethToken } from '../contracts/typed';
import { encodeMatrix } from '../lib/matrix';
import { splitRows } from '../lib/programs';
import { syntheticClassification } from '../examples/classification';
import { buildTrainStepModel, initialParams, paramCount } from '../examples/train-models';
import { encodeModel } from '../activities/programs/fedavg-format';
import { fedAvgFuel } from '../activities/programs/fedavg-train';
import { READY_MARKER } from '../workers/shared/ready';
import type { Stack } from './stack/stack';
import { GatewayClient } from './gateway-client';
import { followJob, type JobView } from './job-status';

const EPOCHS = 5;
const NODES = 4;
const DIMS = { features: 20, classes: 4 };
const LOCAL = { localSteps: 5, learningRate: '0.1', batchSize: 0 };

interface CheckpointsView {
  checkpoints: { epoch: number; model: string; accuracy: number | null; loss: number | null }[];
}

/**
 * The training demo (issue: confidential jobs): federated averaging over 4 nodes for 5 epochs.
 * Every node's update is encrypted with the requester's CKKS public key; the L2 sums ciphertexts;
 * only the requester's keyholder, which holds the secret key, opens the sum.
 */
export async function runTrainingDemo(
  stack: Stack,
  config: EmethConfig,
  out: (line: string) => void,
): Promise<void> {
  const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0 });
  try {
    const requesterKey = devKey(DEV_ROLES.requester);
    const requester = new NonceManager(new Wallet(requesterKey, provider));
    const address = (await requester.getAddress()).toLowerCase();

    out(
      "\n── Training: the requester's keyholder (the only holder of the CKKS secret key) and a fourth node ──",
    );
    const keyholderLog = path.join(stack.logDir, 'keyholder.log');
    await stack.spawnWorker('keyholder', 'keyholder', [], requesterKey);
    const ready = fs
      .readFileSync(keyholderLog, 'utf8')
      .split('\n')
      .reverse()
      .find((l) => l.startsWith(`${READY_MARKER} keyholder`))!;
    const publicKey = /publicKey=([0-9a-f]{64})/.exec(ready)![1]!;
    const keyDir = path.join(config.home, 'keyholder', address);
    out(
      `  keyholder for ${address}: secret key in ${keyDir} (mode 0600), public key blob ${publicKey.slice(0, 16)}…`,
    );
    const node4 = new Wallet(devKey(DEV_ROLES.node4));
    const owner = new NonceManager(new Wallet(config.chain.deployerKey, provider));
    const token = emethToken(stack.deployment.token, owner);
    if ((await token.balanceOf(node4.address)) < 100n * EMETH) {
      await (await token.mint(node4.address, 200n * EMETH)).wait();
    }
    await stack.spawnWorker('node-4', 'node', ['--class', 'cpu', '--stake', '100'], node4.privateKey);

    const set = syntheticClassification();
    const client = new GatewayClient(config.gateway.url, requester, stack.deployment.chainId);
    const [dataset, testSet, graph, initial] = await Promise.all([
      client.putBlob(encodeMatrix(set.train)),
      client.putBlob(encodeMatrix(set.test)),
      client.putBlob(buildTrainStepModel('softmax', DIMS)),
      client.putBlob(encodeModel(initialParams('softmax', DIMS))),
    ]);
    const params = paramCount('softmax', DIMS);
    const perEpoch = splitRows(set.train.rows, NODES).reduce(
      (a, r) => a + BigInt(fedAvgFuel(r.rowEnd - r.rowStart, LOCAL, params, 10n ** 30n).required),
      0n,
    );
    const fuelLimit = ((perEpoch * BigInt(EPOCHS) * 3n) / 2n).toString();
    out(
      `  softmax regression, ${params} parameters; ${set.train.rows} training rows in ${NODES} shards; ${EPOCHS} epochs; fuel limit ${fuelLimit}`,
    );
    const job = await client.submitJob<JobView>(
      {
        programId: 2,
        dataset: dataset.id,
        trainGraph: graph.id,
        publicKey,
        initialModel: initial.id,
        testSet: testSet.id,
        numEpoch: EPOCHS,
        numParallel: NODES,
        ...LOCAL,
        fuelLimit,
        fuelPrice: (120n * GHOLON).toString(),
        deadlineSeconds: 900,
      },
      stack.deployment.core,
    );
    out(`  Job ${job.id}\n  Temporal UI: ${job.temporalUiUrl}`);
    const final = await followJob(client, job.id, out, 1000);
    const { checkpoints } = await client.request<CheckpointsView>('GET', `/v1/jobs/${job.id}/checkpoints`);
    out('\n  epoch  accuracy  loss     (measured by the keyholder on the held-out set)');
    for (const c of checkpoints)
      out(
        `  ${String(c.epoch + 1).padStart(5)}  ${c.accuracy?.toFixed(3) ?? '-'}     ${c.loss?.toFixed(4) ?? '-'}`,
      );
    if (final.status !== 'completed' || checkpoints.length !== EPOCHS)
      throw new Error(`the training Job ended ${final.status} after ${checkpoints.length} epochs`);
    const acc = checkpoints.map((c) => c.accuracy ?? 0);
    if (!(acc[acc.length - 1]! > acc[0]!)) throw new Error(`accuracy did not rise: ${acc.join(', ')}`);
    out(
      `  fees: reserved ${formatEmeth(BigInt(final.fees.reserved))}, charged ${formatEmeth(BigInt(final.fees.charged))}, refunded ${formatEmeth(BigInt(final.fees.refunded))} EMETH`,
    );
    const secretFiles = listSecretKeys(config.home);
    out(
      `  CKKS secret keys on this machine: ${secretFiles.map((f) => path.relative(config.home, f)).join(', ')} — the keyholder's alone; the L2, nodes and verifier have none.`,
    );
    const blobs = storedBlobs(config.l2.storageDir);
    if (blobs.length === 0)
      throw new Error(`no blobs found in ${config.l2.storageDir}, where the L2 stores them`);
    const sealed = blobs.filter((f) => isEnvelope(fs.readFileSync(f))).length;
    out(
      `  EMETH Storage: ${blobs.length} blobs (datasets, models, shards, results, updates, checkpoints), ${sealed} of them AES-256-GCM envelopes` +
        (sealed === blobs.length
          ? '.'
          : ` (${blobs.length - sealed} written before storage was sealed, by an older version).`),
    );
  } finally {
    provider.destroy();
  }
}

function listSecretKeys(dir: string): string[] {
  const found: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== 'pgdata' && e.name !== 'storage') found.push(...listSecretKeys(p));
    else if (e.name === 'ckks-secret.key') found.push(p);
  }
  return found;
}

/** The blob files of a local store (its tmp folder of unfinished writes aside). */
function storedBlobs(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .filter((f) => path.relative(dir, f).split(path.sep)[0] !== 'tmp');
}
