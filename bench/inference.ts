/**
 * The inference service (paper 5-1) against a bare onnxruntime session: latency p50/p99 of one-row
 * requests and throughput under concurrent clients, with 1 and 3 warm replicas, same model (the
 * example MLP, 32-wide float32 input), same inputs, same machine, same run.
 *
 *   npx tsx bench/inference.ts [--requests 300] [--concurrency 8] [--replicas 1,3]
 *
 * Real processes throughout: Temporal dev server, anvil, PostgreSQL (or embedded PGlite), the L2
 * server (whose gateway routes each request down a node's serving stream), 3 nodes and a verifier.
 * Each request is measured two ways: signed by the requester's wallet (GatewayClient: an ECDSA
 * signature per request, computed in this process, a real cost for a signed caller) and with an
 * API key (a bearer header, as a production caller would call an endpoint).
 * The bare baseline is `session.run` in this process; onnxruntime uses every core per call, so
 * "bare × replicas" is not a ceiling this machine can reach.
 *
 * The machine: figures in README were taken on 2 CPU cores shared by everything above (the bench
 * process, the gateway, the nodes, the verifier, Temporal, anvil, the database). 3 replicas are 3
 * node processes on those same 2 cores: they cannot triple throughput here, and the output says so.
 * The goals of the issue are printed beside the figures, never asserted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startTemporalDevServer } from '../cli/stack/temporal';
import { EMETH, GHOLON } from '../lib/fees';
import { TestPipeline } from '../test/support/pipeline';
import { generateExamples } from '../examples/generate';
import { createOnnxSession } from '../activities/programs/onnx-runtime';
import { createTensor } from '../lib/tensors';

interface DeploymentView {
  id: string;
  status: string;
  charged: string;
  refunded: string;
  requests: number;
  replicas: { nodeId: string; status: string; reason: string | null }[];
}

const PRICE = 5n * GHOLON * 1000n; // per request
const BUDGET = 50n * EMETH;
const COLS = 32;
const WARMUP = 30;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

interface Measured {
  mechanism: string;
  replicas: number;
  p50: number;
  p99: number;
  rps: number;
  errors: string[];
}

/** `n` sequential calls after `WARMUP` unmeasured ones; ms per call. */
async function latency(call: (i: number) => Promise<unknown>, n: number): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await call(i);
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call(i);
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** `total` calls shared by `concurrency` clients, each one call at a time; requests per second. */
async function throughput(
  call: (i: number) => Promise<unknown>,
  total: number,
  concurrency: number,
): Promise<{ rps: number; ok: number; errors: string[] }> {
  let next = 0;
  let ok = 0;
  const errors: string[] = [];
  const client = async () => {
    while (next < total) {
      const i = next++;
      try {
        await call(i);
        ok++;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const s = (performance.now() - t0) / 1000;
  return { rps: ok / s, ok, errors };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '300' },
      concurrency: { type: 'string', default: '8' },
      replicas: { type: 'string', default: '1,3' },
      // Requests of the throughput phase, per mechanism and replica count.
      'throughput-requests': { type: 'string', default: '600' },
    },
  });
  const n = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const tpTotal = Number(values['throughput-requests']);
  const replicaCounts = values.replicas.split(',').map((r) => Number(r.trim()));
  if (![n, concurrency, tpTotal, ...replicaCounts].every((x) => Number.isInteger(x) && x > 0))
    throw new Error('--requests, --concurrency, --throughput-requests and --replicas take positive integers');
  if (Math.max(...replicaCounts) > 3) throw new Error('the pipeline starts 3 nodes: --replicas at most 3');

  process.env.EMETH_CODEC_KEYS ??= `k1:${randomBytes(32).toString('base64')}`;
  const temporal = await startTemporalDevServer({ headless: true });
  process.env.EMETH_TEST_TEMPORAL_ADDRESS = temporal.address;
  const p = await TestPipeline.start({ env: { EMETH_INFERENCE_WINDOW_MS: '2000' } }).catch(async (err) => {
    await temporal.stop();
    throw err;
  });
  const results: Measured[] = [];
  const notes: string[] = [];
  try {
    await p.startVerifier();
    for (let i = 0; i < 3; i++) await p.startNode();
    await p.deposit(100n * EMETH);
    const ex = await generateExamples(path.join(p.home, 'examples-bench'), { rows: 8 });
    const modelBytes = new Uint8Array(fs.readFileSync(ex.model.path));

    // The same inputs for every mechanism: a pool of one-row requests, request i takes row i % pool.
    const pool = Array.from({ length: 64 }, (_, r) =>
      Array.from({ length: COLS }, (_, c) => Math.sin(r * COLS + c)),
    );
    const rowsOf = (i: number) => [pool[i % pool.length]!];
    const flat = pool.map((r) => Float32Array.from(r));

    const session = await createOnnxSession(modelBytes, { preferCuda: false });
    const inputName = session.model.inputs[0]!.name;
    const bare = (i: number) =>
      session.run({ [inputName]: createTensor(inputName, 'float32', [1, COLS], flat[i % flat.length]!) });

    const { key } = await p.gateway.request<{ key: string }>('POST', '/v1/api-keys', { label: 'bench' });
    const gatewayUrl = p.config.gateway.url.replace(/\/$/, '');
    const view = (id: string) => p.gateway.request<DeploymentView>('GET', `/v1/deployments/${id}`);
    const waitFor = async (id: string, what: string, ok: (d: DeploymentView) => boolean) => {
      const until = Date.now() + 180_000;
      let last: DeploymentView | undefined;
      while (Date.now() < until) {
        last = await view(id);
        if (ok(last)) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`deployment ${id} never reached "${what}": ${JSON.stringify(last)}`);
    };
    const serving = (d: DeploymentView) => d.replicas.filter((r) => r.status === 'serving').length;

    for (const replicas of replicaCounts) {
      // Bare, again beside each replica count (same run, same inputs).
      const bareMs = await latency(bare, n);
      const bareTp = await throughput(bare, tpTotal, concurrency);
      const bareRow: Measured = {
        mechanism: 'bare onnxruntime session.run (in-process)',
        replicas,
        p50: pct(bareMs, 50),
        p99: pct(bareMs, 99),
        rps: bareTp.rps,
        errors: bareTp.errors,
      };
      results.push(bareRow);

      const created = await p.gateway.deploy<DeploymentView>(
        {
          model: (await p.gateway.putBlob(modelBytes)).id,
          pricing: 'request',
          price: PRICE.toString(),
          budget: BUDGET.toString(),
          maxRowsPerRequest: 16,
          minReplicas: replicas,
          maxReplicas: replicas,
        },
        p.chain.deployment.core,
      );
      const t0 = performance.now();
      const id = created.id;
      await waitFor(id, `${replicas} serving`, (d) => d.status === 'serving' && serving(d) === replicas);
      notes.push(
        `${replicas} replica(s): deploy → ${replicas} serving in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );

      let answered = 0;
      const signed = async (i: number) => {
        await p.gateway.infer(id, rowsOf(i));
        answered++;
      };
      const keyed = async (i: number) => {
        const res = await fetch(`${gatewayUrl}/v1/deployments/${id}/infer`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: rowsOf(i) }),
        });
        const text = await res.text();
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
        answered++;
      };
      for (const [mechanism, call] of [
        ['service, API key (Bearer)', keyed],
        ['service, wallet-signed (GatewayClient)', signed],
      ] as const) {
        const ms = await latency(call, n);
        const tp = await throughput(call, tpTotal, concurrency);
        results.push({
          mechanism,
          replicas,
          p50: pct(ms, 50),
          p99: pct(ms, 99),
          rps: tp.rps,
          errors: tp.errors,
        });
      }

      await p.gateway.request('DELETE', `/v1/deployments/${id}`);
      const d = await waitFor(id, 'stopped', (v) => v.status === 'stopped');
      const expected = PRICE * BigInt(d.requests);
      notes.push(
        `${replicas} replica(s), stopped deployment: requests ${d.requests} (this bench got ${answered} answers); ` +
          `charged ${d.charged} holon vs price × requests ${expected} (${BigInt(d.charged) === expected ? 'equal' : 'DIFFERENT'}); ` +
          `vs price × answers ${PRICE * BigInt(answered)} (${BigInt(d.charged) === PRICE * BigInt(answered) ? 'equal' : 'DIFFERENT'}); refunded ${d.refunded}`,
      );
    }

    // The table.
    const f = (x: number, d = 2) => x.toFixed(d);
    console.log(
      `\nMachine: ${os.cpus().length} CPU cores (${os.cpus()[0]?.model ?? '?'}), load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(
          ' ',
        )}; ${n} sequential one-row requests after ${WARMUP} warm-up; throughput: ${concurrency} concurrent clients, ${tpTotal} requests.`,
    );
    console.log(`\n| mechanism | replicas | p50 ms | p99 ms | requests/s | ratio to bare |`);
    console.log(`|---|---:|---:|---:|---:|---|`);
    const bareFor = (r: number) => results.find((x) => x.mechanism.startsWith('bare') && x.replicas === r)!;
    for (const r of results) {
      const b = bareFor(r.replicas);
      const ratio = r === b ? '1' : `p50 +${f(r.p50 - b.p50)} ms; throughput ${f(r.rps / b.rps, 4)}×`;
      const errs = r.errors.length ? ` (${r.errors.length} errors)` : '';
      console.log(
        `| ${r.mechanism} | ${r.replicas} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.rps, 0)}${errs} | ${ratio} |`,
      );
    }

    console.log('\nGoals (issue), not asserted:');
    for (const r of results.filter((x) => !x.mechanism.startsWith('bare'))) {
      const b = bareFor(r.replicas);
      const over = r.p50 - b.p50;
      const need = 0.8 * b.rps * Number(r.replicas);
      console.log(
        `- ${r.mechanism}, ${r.replicas} replica(s): p50 overhead ${f(over)} ms vs ≤ 10 ms: ${over <= 10 ? 'met' : 'not met'}; ` +
          `throughput ${f(r.rps, 0)} req/s vs ≥ 0.8 × ${f(b.rps, 0)} × ${r.replicas} = ${f(need, 0)} req/s: ${r.rps >= need ? 'met' : 'not met'}`,
      );
    }
    const svc = (mech: string, rep: number) =>
      results.find((x) => x.mechanism === mech && x.replicas === rep);
    if (replicaCounts.includes(1) && replicaCounts.some((r) => r > 1)) {
      const maxR = Math.max(...replicaCounts);
      for (const mech of ['service, API key (Bearer)', 'service, wallet-signed (GatewayClient)']) {
        const one = svc(mech, 1);
        const many = svc(mech, maxR);
        if (one && many)
          console.log(
            `- ${mech}: ${maxR} replicas give ${f(many.rps / one.rps)}× the throughput of 1 (ideal ${maxR}×)`,
          );
      }
    }
    if (os.cpus().length < Math.max(...replicaCounts) * 2)
      console.log(
        `\nNote: ${os.cpus().length} cores run the bench process, the gateway, ${Math.max(...replicaCounts)} node processes, the verifier, ` +
          `Temporal, anvil and the database; ${Math.max(...replicaCounts)} replicas cannot multiply throughput on this machine, ` +
          `and the bare session uses every core per call.`,
      );
    console.log('');
    for (const line of notes) console.log(`- ${line}`);
    for (const r of results.filter((x) => x.errors.length))
      console.log(
        `- errors, ${r.mechanism} × ${r.replicas}: ${[...new Set(r.errors)].slice(0, 3).join(' | ')}`,
      );
    await session.release();
  } finally {
    await p.stop();
    await temporal.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
