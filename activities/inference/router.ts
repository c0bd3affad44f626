/**
 * The inference request path (paper 5-1), in the gateway's process: a request bound to the model's
 * inputs goes to the least busy serving replica over its node's stream; a replica lost mid-request
 * hands it to the next one under the same request id, so it is answered once and metered once. Every
 * answered request is recorded (batched writes, off the latency path) for the deployment workflow's
 * windows to ticket, and a sample of them is kept for a verifier to re-run.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { ModelCost } from '../../lib/programs';
import {
  fromWire,
  requestFuel,
  requestPrice,
  tensorsDigest,
  toWire,
  type Pricing,
  type WireTensor,
} from '../../lib/inference';
import type { Tensor } from '../../lib/tensors';
import { inspectModel, type ModelInfo } from '../programs/onnx-model';
import { modelCostOf } from '../programs/onnx-fuel';
import { rowShapesOf } from '../programs/onnx-binding';
import type { BlobStore } from '../storage';
import { ReplicaError, ReplicaLost, type ServingHub } from './hub';
import { big } from '../../prisma/ledger';

export interface Served {
  requestId: string;
  nodeId: string;
  outputs: Tensor[];
  rows: number;
  fuel: bigint;
  amount: bigint;
  /** Replicas tried before the one that answered (a lost stream, a timeout). */
  retries: number;
}

/** Why a request was refused; the route maps `kind` to an HTTP status. */
export class InferRefused extends Error {
  constructor(
    readonly kind: 'not_found' | 'forbidden' | 'not_serving' | 'budget' | 'rows' | 'unavailable' | 'failed',
    message: string,
  ) {
    super(message);
  }
}

interface DeploymentState {
  id: string;
  requester: string;
  status: string;
  modelBlob: string;
  model: ModelInfo;
  modelBytes: Uint8Array;
  pricing: Pricing;
  price: bigint;
  maxRows: number;
  budget: bigint;
  /** Charged so far, billed or not, plus what requests in flight would cost. */
  spent: bigint;
  replicas: string[];
  costs: Map<string, Promise<ModelCost>>;
}

interface MeterRow {
  id: string;
  deploymentId: string;
  nodeId: string;
  rows: number;
  fuel: string;
  amount: string;
  inputDigest: string;
  outputDigest: string;
  sampled: boolean;
  sampleBlob: string | null;
}

export interface InferenceRouterDeps {
  prisma: PrismaClient;
  store: Pick<BlobStore, 'get' | 'put'>;
  hub: ServingHub;
  logger: Logger;
  /** Share of requests kept for a verifier's re-run (the verification policy's sample rate). */
  sampleRate: number;
  /** How long a replica may take to answer one request before it is treated as lost. */
  requestTimeoutMs?: number;
}

export interface InferenceRouter {
  infer(deploymentId: string, caller: string, feeds: Record<string, Tensor>): Promise<Served>;
  /** The model a deployment serves (the route binds JSON and .npy inputs to it). */
  modelOf(deploymentId: string): Promise<ModelInfo>;
  /** One request to one replica, not metered: the deployment workflow's canaries. */
  probe(deploymentId: string, nodeId: string, inputs: Tensor[]): Promise<Tensor[]>;
  /** Reread a deployment's row and replicas (the deployment workflow's activities call it after changes). */
  refresh(deploymentId: string): Promise<void>;
  /**
   * Replicas whose node answered that it holds no session for the deployment (it restarted and
   * redialled its stream): drained by the deployment workflow's replica check, which replaces them.
   */
  takeUnloaded(deploymentId: string): string[];
  /** Writes every answered request still buffered (before a window is billed). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const FLUSH_MS = 50;

export function createInferenceRouter(deps: InferenceRouterDeps): InferenceRouter {
  const { prisma, hub } = deps;
  const log = deps.logger.child({ component: 'inference-router' });
  const timeoutMs = deps.requestTimeoutMs ?? 30_000;
  const states = new Map<string, Promise<DeploymentState>>();
  const inFlight = new Map<string, number>();
  let buffer: MeterRow[] = [];
  const unloaded = new Map<string, Set<string>>();
  const markUnloaded = (s: DeploymentState, nodeId: string) => {
    s.replicas = s.replicas.filter((n) => n !== nodeId);
    unloaded.set(s.id, (unloaded.get(s.id) ?? new Set()).add(nodeId));
  };
  let flushing: Promise<void> = Promise.resolve();

  const timer = setInterval(
    () => void flush().catch((err) => log.error({ err }, 'metering write failed')),
    FLUSH_MS,
  );
  timer.unref();

  // A node whose stream closed serves nothing until the deployment workflow places it again.
  hub.onDisconnect((nodeId) => {
    for (const p of states.values())
      void p.then((s) => (s.replicas = s.replicas.filter((n) => n !== nodeId))).catch(() => undefined);
  });

  async function load(deploymentId: string): Promise<DeploymentState> {
    const d = await prisma.deployment.findUnique({
      where: { id: deploymentId },
      include: { replicas: { where: { status: 'serving' } } },
    });
    if (!d) throw new InferRefused('not_found', `no deployment ${deploymentId}`);
    const previous = await states.get(deploymentId)?.catch(() => undefined);
    const modelBytes = previous?.modelBlob === d.model ? previous.modelBytes : await deps.store.get(d.model);
    const billed = await prisma.inferenceRequest.aggregate({
      where: { deploymentId, canary: false, OR: [{ valid: null }, { valid: true }] },
      _sum: { amount: true },
    });
    const pending = buffer
      .filter((r) => r.deploymentId === deploymentId)
      .reduce((a, r) => a + BigInt(r.amount), 0n);
    return {
      id: d.id,
      requester: d.requester,
      status: d.status,
      modelBlob: d.model,
      model: previous?.modelBlob === d.model ? previous.model : inspectModel(modelBytes),
      modelBytes,
      pricing: d.pricing as Pricing,
      price: big(d.price),
      maxRows: d.maxRowsPerRequest,
      budget: big(d.budget),
      spent: big(billed._sum.amount) + pending,
      replicas: d.replicas.map((r) => r.nodeId).filter((n) => hub.connected(n)),
      costs: previous?.costs ?? new Map(),
    };
  }

  function stateOf(deploymentId: string): Promise<DeploymentState> {
    let p = states.get(deploymentId);
    if (!p) {
      p = load(deploymentId);
      states.set(deploymentId, p);
      p.catch(() => states.delete(deploymentId));
    }
    return p;
  }

  function costOf(s: DeploymentState, feeds: Record<string, Tensor>): Promise<ModelCost> {
    const shapes = rowShapesOf(feeds);
    const key = JSON.stringify(shapes);
    let c = s.costs.get(key);
    if (!c) {
      c = modelCostOf(s.modelBytes, shapes);
      s.costs.set(key, c);
      c.catch(() => s.costs.delete(key));
    }
    return c;
  }

  /** The serving replicas, least busy first (ties in random order, so load spreads). */
  function candidates(s: DeploymentState, tried: Set<string>): string[] {
    return s.replicas
      .filter((n) => !tried.has(n) && hub.connected(n))
      .map((n) => ({ n, load: inFlight.get(n) ?? 0, r: Math.random() }))
      .sort((a, b) => a.load - b.load || a.r - b.r)
      .map((x) => x.n);
  }

  async function flush(): Promise<void> {
    const run = flushing.then(async () => {
      if (buffer.length === 0) return;
      const rows = buffer;
      buffer = [];
      try {
        await prisma.inferenceRequest.createMany({ data: rows, skipDuplicates: true });
      } catch (err) {
        buffer = rows.concat(buffer);
        throw err;
      }
    });
    flushing = run.catch(() => undefined);
    return run;
  }

  async function keepSample(inputs: WireTensor[], outputs: WireTensor[]): Promise<string> {
    return deps.store.put(new TextEncoder().encode(JSON.stringify({ inputs, outputs })));
  }

  return {
    async modelOf(deploymentId) {
      return (await stateOf(deploymentId)).model;
    },

    async infer(deploymentId, caller, feeds) {
      const s = await stateOf(deploymentId);
      if (s.requester !== caller.toLowerCase())
        throw new InferRefused(
          'forbidden',
          `deployment ${deploymentId} serves its requester ${s.requester} only`,
        );
      if (s.status !== 'serving')
        throw new InferRefused('not_serving', `deployment ${deploymentId} is ${s.status}, not serving`);
      const first = Object.values(feeds)[0]!;
      const rows = first.shape[0] ?? 0;
      if (rows < 1 || rows > s.maxRows)
        throw new InferRefused('rows', `a request holds 1 to ${s.maxRows} rows; this one holds ${rows}`);
      const cost = await costOf(s, feeds);
      const amount = requestPrice(s, rows, cost);
      if (s.spent + amount > s.budget)
        throw new InferRefused(
          'budget',
          `deployment ${deploymentId} has spent ${s.spent} of its ${s.budget} holon budget; this request costs ${amount}: deploy again with a larger budget`,
        );
      s.spent += amount;
      const requestId = '0x' + randomBytes(16).toString('hex');
      const inputs = Object.values(feeds).map(toWire);
      const tried = new Set<string>();
      let lastError: Error | undefined;
      try {
        for (;;) {
          const nodeId = candidates(s, tried)[0];
          if (!nodeId) break;
          tried.add(nodeId);
          inFlight.set(nodeId, (inFlight.get(nodeId) ?? 0) + 1);
          try {
            const wire = await hub.infer(nodeId, deploymentId, inputs, timeoutMs);
            const outputs = wire.map(fromWire);
            const sampled = Math.random() < deps.sampleRate;
            // Awaited before the push: `buffer` is swapped by each flush, and a push whose target
            // was read before an await would land in an array already written.
            const sampleBlob = sampled ? await keepSample(inputs, wire) : null;
            buffer.push({
              id: requestId,
              deploymentId,
              nodeId,
              rows,
              fuel: requestFuel(rows, cost).toString(),
              amount: amount.toString(),
              inputDigest: tensorsDigest(Object.values(feeds)),
              outputDigest: tensorsDigest(outputs),
              sampled,
              sampleBlob,
            });
            return {
              requestId,
              nodeId,
              outputs,
              rows,
              fuel: requestFuel(rows, cost),
              amount,
              retries: tried.size - 1,
            };
          } catch (err) {
            lastError = err as Error;
            if (err instanceof ReplicaLost) {
              log.warn(
                { deploymentId, nodeId, requestId, err: lastError.message },
                'replica lost mid-request: retrying on another',
              );
              s.replicas = s.replicas.filter((n) => n !== nodeId);
              continue;
            }
            if (err instanceof ReplicaError && err.code === 'not_loaded') {
              log.warn({ deploymentId, nodeId, requestId }, 'replica lost its session: retrying on another');
              markUnloaded(s, nodeId);
              continue;
            }
            if (err instanceof ReplicaError) {
              log.warn(
                { deploymentId, nodeId, requestId, err: lastError.message },
                'replica failed the request: retrying on another',
              );
              continue;
            }
            throw err;
          } finally {
            inFlight.set(nodeId, (inFlight.get(nodeId) ?? 1) - 1);
          }
        }
        s.spent -= amount;
        if (lastError instanceof ReplicaError)
          throw new InferRefused(
            'failed',
            `the model failed on this input on every replica tried: ${lastError.message}`,
          );
        throw new InferRefused(
          'unavailable',
          `deployment ${deploymentId} has no serving replica reachable now${lastError ? ` (${lastError.message})` : ''}; retry shortly`,
        );
      } catch (err) {
        if (!(err instanceof InferRefused)) s.spent -= amount;
        throw err;
      }
    },

    async probe(deploymentId, nodeId, inputs) {
      try {
        const wire = await hub.infer(nodeId, deploymentId, inputs.map(toWire), timeoutMs);
        return wire.map(fromWire);
      } catch (err) {
        if (err instanceof ReplicaError && err.code === 'not_loaded')
          markUnloaded(await stateOf(deploymentId), nodeId);
        throw err;
      }
    },

    takeUnloaded(deploymentId) {
      const nodes = [...(unloaded.get(deploymentId) ?? [])];
      unloaded.delete(deploymentId);
      return nodes;
    },

    async refresh(deploymentId) {
      const next = load(deploymentId);
      await next;
      states.set(deploymentId, next);
    },

    flush,

    async close() {
      clearInterval(timer);
      await flush().catch((err) => log.error({ err }, 'metering write failed at close'));
    },
  };
}

/** A random row for a canary: values like a standardised feature (floats) or small counts (ints). */
export function canaryInputs(model: ModelInfo, rows: number): Tensor[] {
  return model.inputs.map((input) => {
    const inner = (input.dims ?? [null, 1]).slice(1).map((d) => d ?? 1);
    const shape = [rows, ...inner];
    const n = shape.reduce((a, b) => a * b, 1);
    const dtype = input.dtype ?? 'float32';
    const data =
      dtype === 'float32'
        ? Float32Array.from({ length: n }, () => Math.random() * 2 - 1)
        : dtype === 'float64'
          ? Float64Array.from({ length: n }, () => Math.random() * 2 - 1)
          : dtype === 'int64'
            ? BigInt64Array.from({ length: n }, () => BigInt(randomInt(0, 4)))
            : dtype === 'int32'
              ? Int32Array.from({ length: n }, () => randomInt(0, 4))
              : Uint8Array.from({ length: n }, () => randomInt(0, 2));
    return { name: input.name, dtype, shape, data } as Tensor;
  });
}
