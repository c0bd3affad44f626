/**
 * The inference service from the command line (paper 5-1): `emeth deploy <model.onnx>` uploads the
 * model and deploys it with its budget's Commit signed here; `emeth deploy status|scale|stop <id>`
 * follow and steer it; `emeth infer <id>` sends one request (a .npy or .json file, or JSON on the
 * command line) and prints or writes the outputs.
 */
import fs from 'node:fs';
import type { EmethConfig } from '../../lib/config';
import { EmethError } from '../../lib/errors';
import { isNpy } from '../../lib/tensors';
import { GatewayClient } from '../gateway-client';
import { readDeployment } from '../../workers/shared/deployment';
import { signRequest, withNonce } from '../../lib/request-auth';
import {
  UsageError,
  emeth,
  parseAmount,
  runCommand,
  stringOption,
  type CommandSpec,
  type Io,
  type Parsed,
} from './args';
import { KEY_OPTIONS, loadSigner } from './keys';
import { writeAtomically } from './jobs';

const DEPLOY: CommandSpec = {
  name: 'deploy',
  args: '<model.onnx> | status <id> | scale <id> | stop <id>',
  summary:
    'Deploys an ONNX model on warm replicas (its budget committed from your deposit), or reads, scales or\nstops a deployment. A stop bills every answered request once and refunds the rest of the budget.',
  options: {
    ...KEY_OPTIONS,
    class: { type: 'string', value: 'name', help: 'capability class of the nodes (default cpu)' },
    'price-per-request': { type: 'string', value: 'EMETH', help: 'the price of one request' },
    'price-per-fuel': { type: 'string', value: 'holon', help: 'or the price per fuel a request costs' },
    budget: {
      type: 'string',
      value: 'EMETH',
      help: 'what the deployment may spend in all (required to deploy)',
    },
    replicas: { type: 'string', value: 'N', help: 'replicas now (deploy, scale)' },
    min: { type: 'string', value: 'N', help: 'replicas at least (default 1)' },
    max: { type: 'string', value: 'N', help: 'replicas the load may scale to (default --min)' },
    'max-rows': { type: 'string', value: 'N', help: 'rows one request may hold (default 256)' },
    lease: { type: 'string', value: 'id', help: 'serve on the nodes of this lease of yours' },
  },
  positionals: { min: 1, max: 2 },
};

const INFER: CommandSpec = {
  name: 'infer',
  args: '<deploymentId>',
  summary:
    'Runs a deployed model on one request: --input <file.npy|file.json> or --json \'{"inputs": ...}\'. Prints the\noutputs as JSON, or writes the first as .npy with -o <file.npy>.',
  options: {
    ...KEY_OPTIONS,
    input: {
      type: 'string',
      short: 'i',
      value: 'file',
      help: '.npy (a one-input model) or .json { "inputs": … }',
    },
    json: { type: 'string', value: 'text', help: 'the request as JSON text' },
    output: { type: 'string', short: 'o', value: 'file.npy', help: 'write the first output as .npy' },
  },
  positionals: { min: 1, max: 1 },
};

interface DeploymentView {
  id: string;
  status: string;
  reason: string | null;
  price: string;
  pricing: string;
  budget: string;
  spent: string;
  charged: string;
  refunded: string;
  requests: number;
  minReplicas: number;
  maxReplicas: number;
  targetReplicas: number;
  replicas: { nodeId: string; status: string }[];
}

const count = (p: Parsed, name: string): number | undefined => {
  const v = stringOption(p, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number ≥ 1, got "${v}"`);
  return n;
};

const deploymentId = (text: string | undefined): string => {
  if (!text || !/^0x[0-9a-fA-F]{64}$/.test(text))
    throw new UsageError(`"${text ?? ''}" is not a deployment id (0x and 64 hex digits)`);
  return text.toLowerCase();
};

function describe(d: DeploymentView): string[] {
  const serving = d.replicas.filter((r) => r.status === 'serving');
  return [
    `deployment ${d.id}: ${d.status}${d.reason ? ` (${d.reason})` : ''}`,
    `  replicas: ${serving.length} serving of ${d.targetReplicas} wanted [${d.minReplicas}..${d.maxReplicas}]${serving.length ? ': ' + serving.map((r) => r.nodeId).join(', ') : ''}`,
    `  price: ${d.pricing === 'request' ? `${emeth(BigInt(d.price))} per request` : `${d.price} holon per fuel`}`,
    `  requests: ${d.requests}; spent ${emeth(BigInt(d.spent))} of ${emeth(BigInt(d.budget))}; charged ${emeth(BigInt(d.charged))}, refunded ${emeth(BigInt(d.refunded))}`,
  ];
}

async function client(p: Parsed, config: EmethConfig, io: Io): Promise<GatewayClient> {
  return new GatewayClient(config.gateway.url, await loadSigner(p, config, io), config.chain.chainId);
}

export function deploy(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(DEPLOY, argv, io, async (p) => {
    const [first, second] = p.positionals;
    const gw = await client(p, config, io);
    if (first === 'status' || first === 'stop' || first === 'scale') {
      const id = deploymentId(second);
      let d: DeploymentView;
      if (first === 'status') d = await gw.request<DeploymentView>('GET', `/v1/deployments/${id}`);
      else if (first === 'stop') d = await gw.request<DeploymentView>('DELETE', `/v1/deployments/${id}`);
      else {
        const body = {
          replicas: count(p, 'replicas'),
          minReplicas: count(p, 'min'),
          maxReplicas: count(p, 'max'),
        };
        if (Object.values(body).every((v) => v === undefined))
          throw new UsageError('emeth deploy scale needs --replicas, --min or --max');
        d = await gw.request<DeploymentView>('PATCH', `/v1/deployments/${id}`, body);
      }
      for (const line of describe(d)) io.out(line);
      if (first === 'stop')
        io.out('  stopping: the last requests are checked and billed, then the rest is refunded');
      return;
    }
    if (second !== undefined) throw new UsageError(`unexpected "${second}": emeth deploy <model.onnx>`);
    if (!fs.existsSync(first!)) throw new UsageError(`no model file ${first}`);
    const budget = stringOption(p, 'budget');
    if (!budget)
      throw new UsageError('emeth deploy needs --budget <EMETH>: what the deployment may spend in all');
    const perRequest = stringOption(p, 'price-per-request');
    const perFuel = stringOption(p, 'price-per-fuel');
    if ((perRequest === undefined) === (perFuel === undefined))
      throw new UsageError('give exactly one of --price-per-request <EMETH> and --price-per-fuel <holon>');
    const model = await gw.putBlob(new Uint8Array(fs.readFileSync(first!)));
    const min = count(p, 'min') ?? 1;
    const d = await gw.deploy<DeploymentView>(
      {
        model: model.id,
        capabilityClass: stringOption(p, 'class') ?? 'cpu',
        pricing: perRequest !== undefined ? 'request' : 'fuel',
        price: (perRequest !== undefined
          ? parseAmount(perRequest, 18, '--price-per-request')
          : parseAmount(perFuel!, 0, '--price-per-fuel')
        ).toString(),
        budget: parseAmount(budget, 18, '--budget').toString(),
        minReplicas: min,
        maxReplicas: count(p, 'max') ?? Math.max(min, count(p, 'replicas') ?? min),
        ...(count(p, 'replicas') ? { replicas: count(p, 'replicas') } : {}),
        ...(count(p, 'max-rows') ? { maxRowsPerRequest: count(p, 'max-rows') } : {}),
        ...(stringOption(p, 'lease') ? { leaseId: stringOption(p, 'lease') } : {}),
      },
      readDeployment(config.chain.deploymentFile).core,
    );
    for (const line of describe(d)) io.out(line);
    io.out(`  call it: emeth infer ${d.id} --input <file.npy>   (follow: emeth deploy status ${d.id})`);
  });
}

export function infer(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(INFER, argv, io, async (p) => {
    const id = deploymentId(p.positionals[0]);
    const file = stringOption(p, 'input');
    const text = stringOption(p, 'json');
    if ((file === undefined) === (text === undefined))
      throw new UsageError('give exactly one of --input <file> and --json <text>');
    let body: Uint8Array;
    let type: string;
    if (file !== undefined) {
      if (!fs.existsSync(file)) throw new UsageError(`no input file ${file}`);
      body = new Uint8Array(fs.readFileSync(file));
      type = isNpy(body) ? 'application/x-npy' : 'application/json';
    } else {
      body = new TextEncoder().encode(text!);
      type = 'application/json';
    }
    const out = stringOption(p, 'output');
    const signer = await loadSigner(p, config, io);
    const gw = new GatewayClient(config.gateway.url, signer, config.chain.chainId);
    const route = withNonce(`/v1/deployments/${id}/infer`);
    const res = await fetch(config.gateway.url.replace(/\/$/, '') + route, {
      method: 'POST',
      headers: {
        ...(await signRequest(signer, 'POST', route, body, undefined, gw.scope)),
        'content-type': type,
        accept: out ? 'application/x-npy' : 'application/json',
      },
      body: Buffer.from(body),
    });
    if (!res.ok) {
      const answer = (await res.json().catch(() => ({}))) as { message?: string };
      throw new EmethError(
        'GATEWAY',
        `the gateway refused the request (HTTP ${res.status}): ${answer.message ?? res.statusText}`,
      );
    }
    if (out) {
      writeAtomically(out, new Uint8Array(await res.arrayBuffer()));
      io.out(
        `wrote the first output to ${out} (request ${res.headers.get('x-emeth-request-id')}, node ${res.headers.get('x-emeth-node')}, charged ${res.headers.get('x-emeth-charged')} holon)`,
      );
    } else io.out(JSON.stringify(await res.json()));
  });
}
