// `emeth keyholder open-stats --key-file <0600 file> <jobId>` (or EMETH_KEY): decrypts a finished encrypted-stats
// Job's result with the requester's CKKS secret key (kept by `emeth keyholder start`) and prints
// the statistics per column as JSON. The plaintext exists only in this process and its output.
import { participantIdentity } from '../workers/shared/identity';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config';
import { EmethError } from '../lib/errors';
import { sealingKeysOf } from '../lib/envelope';
import { createGatewayBlobStore } from '../activities/storage-gateway';
import { createCkks } from '../activities/crypto/ckks';
import { DEFAULT_BINS, openStats, type ColumnStats } from '../activities/programs/encrypted-stats';
import { ProgramId } from '../lib/programs';
import { GatewayClient } from './gateway-client';

export async function openStatsCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { key: { type: 'string' }, 'key-file': { type: 'string' }, dir: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const jobId = positionals[0];
  if (!jobId || !/^0x[0-9a-f]{64}$/.test(jobId))
    throw new EmethError('OPEN_STATS', 'give the Job id (0x and 64 hex characters) after the options');
  const config = loadConfig();
  const { key, deployment, wallet } = participantIdentity(config, 'requester', values);
  const dir = values.dir ?? path.join(config.home, 'keyholder', wallet.address.toLowerCase());
  const secretFile = path.join(dir, 'ckks-secret.key');
  if (!fs.existsSync(secretFile))
    throw new EmethError(
      'OPEN_STATS',
      `no CKKS secret key at ${secretFile}; run this where \`emeth keyholder start\` keeps the requester's keys, or pass --dir`,
    );

  const gateway = new GatewayClient(config.gateway.url, wallet, deployment.chainId);
  const job = await gateway.request<{
    status: string;
    programId: number;
    result: string | null;
    params: Record<string, string>;
  }>('GET', `/v1/jobs/${jobId}`);
  if (job.programId !== ProgramId.ENCRYPTED_STATS)
    throw new EmethError(
      'OPEN_STATS',
      `Job ${jobId} is not an encrypted-stats Job (programId ${job.programId})`,
    );
  if (job.status !== 'completed' || !job.result)
    throw new EmethError(
      'OPEN_STATS',
      `Job ${jobId} is ${job.status}; its result exists once it is completed`,
    );
  const store = createGatewayBlobStore(config.gateway.url, wallet, sealingKeysOf(key));
  const ckks = await createCkks();
  try {
    const stats: ColumnStats[] = openStats({
      ckks,
      secretKey: new Uint8Array(fs.readFileSync(secretFile)),
      total: await store.get(job.result),
      bins: job.params.bins === undefined ? DEFAULT_BINS : Number(job.params.bins),
    });
    out(
      JSON.stringify(
        { jobId, min: Number(job.params.min), max: Number(job.params.max), columns: stats },
        null,
        2,
      ),
    );
    return 0;
  } finally {
    ckks.close();
  }
}
