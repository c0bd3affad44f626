import fs from 'node:fs';
import { JsonRpcProvider, Wallet } from 'ethers';
import type { EmethConfig } from '../lib/config';
import { DEV_ROLES, devKey } from '../lib/dev-accounts';
import { EmethError } from '../lib/errors';
import { GHOLON, formatEmeth, EMETH } from '../lib/fees';
import { emethCore } from '../contracts/typed';
import { generateExamples } from '../examples/generate';
import { createOnnxSession } from '../activities/programs/onnx-runtime';
import { createTensor } from '../lib/tensors';
import type { Stack } from './stack/stack';
import { GatewayClient } from './gateway-client';

interface View {
  id: string;
  status: string;
  requests: number;
  charged: string;
  refunded: string;
  budget: string;
  replicas: { nodeId: string; status: string }[];
}

const REQUESTS = 50;
const PRICE = 5000n * GHOLON;
const BUDGET = 1n * EMETH;

/**
 * The inference service in the demo (paper 5-1): the example MLP deployed on two warm replicas,
 * requests answered synchronously (the first compared with a local onnxruntime run), then a stop:
 * every request billed once through tickets, the rest of the budget refunded, checked on EmethCore.
 */
export async function runDeploymentDemo(
  stack: Stack,
  config: EmethConfig,
  out: (line: string) => void,
): Promise<void> {
  out('\n── Inference as a service (paper 5-1): a model on warm replicas, answered synchronously ──');
  const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0 });
  try {
    const requester = new Wallet(devKey(DEV_ROLES.requester));
    const client = new GatewayClient(config.gateway.url, requester, stack.deployment.chainId);
    const examples = await generateExamples(undefined, { rows: 8 });
    const modelBytes = new Uint8Array(fs.readFileSync(examples.model.path));
    const model = await client.putBlob(modelBytes);
    const created = await client.deploy<View>(
      {
        model: model.id,
        pricing: 'request',
        price: PRICE.toString(),
        budget: BUDGET.toString(),
        minReplicas: 1,
        maxReplicas: 2,
        replicas: 2,
        maxRowsPerRequest: 16,
      },
      stack.deployment.core,
    );
    out(
      `  deployment   ${created.id} (2 replicas, ${formatEmeth(PRICE)} EMETH a request, budget ${formatEmeth(BUDGET)} EMETH)`,
    );
    const d = await until(
      client,
      created.id,
      (v) => v.status === 'serving' && v.replicas.filter((r) => r.status === 'serving').length === 2,
      120_000,
    );
    out(
      `  serving on   ${d.replicas
        .filter((r) => r.status === 'serving')
        .map((r) => r.nodeId)
        .join(', ')}`,
    );

    const row = Array.from({ length: 32 }, (_, i) => Math.cos(i));
    const session = await createOnnxSession(modelBytes, { preferCuda: false });
    const input = session.model.inputs[0]!.name;
    const [local] = await session.run({
      [input]: createTensor(input, 'float32', [1, 32], Float32Array.from(row)),
    });
    await session.release();
    const times: number[] = [];
    let first: { outputs: Record<string, { data: number[] }>; nodeId: string } | undefined;
    for (let i = 0; i < REQUESTS; i++) {
      const t0 = performance.now();
      const answer = await client.infer<{ outputs: Record<string, { data: number[] }>; nodeId: string }>(
        created.id,
        [row],
      );
      times.push(performance.now() - t0);
      first ??= answer;
    }
    const served = Float32Array.from(Object.values(first!.outputs)[0]!.data);
    const same =
      served.length === local!.data.length && served.every((v, i) => v === (local!.data as Float32Array)[i]);
    if (!same)
      throw new EmethError(
        'DEMO',
        'the served outputs differ from a local onnxruntime run of the same model',
      );
    times.sort((a, b) => a - b);
    out(
      `  ${REQUESTS} requests, one row each: p50 ${times[Math.floor(REQUESTS / 2)]!.toFixed(1)} ms (signed by the requester's wallet, through the gateway and a node's serving stream); outputs equal a local run`,
    );

    await client.request('DELETE', `/v1/deployments/${created.id}`);
    const stopped = await until(client, created.id, (v) => v.status === 'stopped', 120_000);
    const commitment = await emethCore(stack.deployment.core, provider).getCommitment(
      requester.address,
      created.id,
    );
    if (BigInt(stopped.charged) !== PRICE * BigInt(REQUESTS) || commitment.amount !== BigInt(stopped.charged))
      throw new EmethError(
        'DEMO',
        `the deployment charged ${stopped.charged} holon, expected ${PRICE * BigInt(REQUESTS)}`,
      );
    out(
      `  stopped: ${stopped.requests} requests billed once through tickets, charged ${formatEmeth(BigInt(stopped.charged))} EMETH, refunded ${formatEmeth(BigInt(stopped.refunded))} EMETH (EmethCore's commitment: ${formatEmeth(commitment.amount)})`,
    );
  } finally {
    provider.destroy();
  }
}

async function until(
  client: GatewayClient,
  id: string,
  ok: (v: View) => boolean,
  timeoutMs: number,
): Promise<View> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await client.request<View>('GET', `/v1/deployments/${id}`);
    if (ok(v)) return v;
    if (v.status === 'failed') throw new EmethError('DEMO', `deployment ${id} failed: ${JSON.stringify(v)}`);
    if (Date.now() > end)
      throw new EmethError(
        'DEMO',
        `deployment ${id} did not get there in ${timeoutMs / 1000} s: ${JSON.stringify(v)}`,
      );
    await new Promise((r) => setTimeout(r, 300));
  }
}
