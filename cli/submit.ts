import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Wallet } from 'ethers';
import type { EmethConfig } from '../lib/config';
import { GHOLON } from '../lib/fees';
import { EmethError } from '../lib/errors';
import { participantKey } from '../lib/participant-key';
import { GatewayClient } from './gateway-client';
import { readDeployment } from '../workers/shared/deployment';
import { followJob, type JobView } from './job-status';

/** The requester's client: its key from --key-file or EMETH_KEY (never --key: argv shows in ps). */
function requesterClient(config: EmethConfig, values: { key?: string; 'key-file'?: string }): GatewayClient {
  const key = participantKey({
    role: 'requester',
    keyFile: values['key-file'],
    envKey: config.participantKey,
    argvKey: values.key,
  });
  return new GatewayClient(config.gateway.url, new Wallet(key), config.chain.chainId);
}

/** `emeth submit`: uploads the files, submits an onnx-inference Job and follows it to the end. */
export async function submit(config: EmethConfig, argv: string[], out: (l: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      key: { type: 'string' },
      'key-file': { type: 'string' },
      dataset: { type: 'string' },
      model: { type: 'string' },
      parallel: { type: 'string', default: '6' },
      'fuel-limit': { type: 'string', default: '1000000' },
      'fuel-price': { type: 'string', default: (120n * GHOLON).toString() },
      deadline: { type: 'string', default: '600' },
      detach: { type: 'boolean', default: false },
      inputs: { type: 'string' },
      outputs: { type: 'string' },
      format: { type: 'string' },
      // l2 (default): tickets batched off chain; l1: every step on EmethCore (paper 7-2).
      layer: { type: 'string', default: 'l2' },
    },
    strict: true,
  });
  if (values.layer !== 'l1' && values.layer !== 'l2')
    throw new EmethError('USAGE', `--layer must be l1 or l2; got ${values.layer}`);
  const client = requesterClient(config, values);
  let inputs: unknown;
  if (values.inputs !== undefined) {
    try {
      inputs = JSON.parse(values.inputs);
    } catch {
      throw new EmethError(
        'USAGE',
        `--inputs must be JSON mapping model inputs to an array, a column pattern or columns, e.g. '{"X": "pixel_*"}'; got ${values.inputs.slice(0, 80)}`,
      );
    }
  }
  for (const f of ['dataset', 'model'] as const) {
    if (!values[f] || !fs.existsSync(values[f]!))
      throw new EmethError('USAGE', `--${f} must name an existing file`);
  }
  const dataset = await client.putBlob(new Uint8Array(fs.readFileSync(values.dataset!)));
  const model = await client.putBlob(new Uint8Array(fs.readFileSync(values.model!)));
  // The requester signs the Job's Commit: what it may cost is locked on EmethCore for it.
  const job = await client.submitJob<JobView>(
    {
      programId: 1,
      dataset: dataset.id,
      model: model.id,
      numParallel: Number(values.parallel),
      fuelLimit: values['fuel-limit']!,
      fuelPrice: values['fuel-price']!,
      deadlineSeconds: Number(values.deadline),
      // Bring-your-model parameters: the gateway checks them and names what is wrong.
      ...(inputs !== undefined ? { inputs } : {}),
      ...(values.outputs ? { outputs: values.outputs.split(',').map((o) => o.trim()) } : {}),
      ...(values.format ? { datasetFormat: values.format } : {}),
      // On L1 the requester signs EmethL1's Request instead: its escrow leaves the deposit on chain.
      ...(values.layer === 'l1' ? { layer: 'l1' } : {}),
    },
    readDeployment(config.chain.deploymentFile).core,
  );
  out(`Job ${job.id} submitted on layer ${values.layer}\nTemporal UI: ${job.temporalUiUrl}`);
  if (values.detach) return 0;
  const final = await followJob(client, job.id, out);
  out(
    `Job ${final.status}; result ${final.result ?? '-'}; charged ${final.fees.charged} holon, refunded ${final.fees.refunded} holon`,
  );
  return final.status === 'completed' ? 0 : 1;
}

/** `emeth status <jobId>`: follows a Job with a live progress bar. */
export async function status(config: EmethConfig, argv: string[], out: (l: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { key: { type: 'string' }, 'key-file': { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const jobId = positionals[0];
  if (!jobId)
    throw new EmethError(
      'USAGE',
      'usage: emeth status [--key-file <0600 file>] <jobId> (or the key in EMETH_KEY)',
    );
  const final = await followJob(requesterClient(config, values), jobId, out);
  out(`Job ${final.status}; Temporal UI: ${final.temporalUiUrl}`);
  return final.status === 'completed' ? 0 : 1;
}
