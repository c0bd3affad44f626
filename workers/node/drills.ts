/**
 * Fault drills: a node that misbehaves on purpose, to exercise the L2's failure paths in tests and
 * the demo. Each drill wraps the honest node (activities/node.ts) or its program modules from the
 * outside; the honest code knows nothing of them, and a node runs one only with `--behaviour`.
 *
 * The cheating strategies (bench/cheat.ts, test/attacks/cheats.test.ts), each after its first
 * `--honest-first N` SubJobs (default 0; farmer: the probation length):
 *   lazy     every output value zero, in the right names, dtypes and shapes, claiming the full fuel
 *   partial  the correct output with `--corrupt-rows k` rows (default 1) changed, chosen at random
 *   farmer   honest for its first N SubJobs (earning reputation, if they are other requesters'),
 *            then lazy
 *   copycat  honest alone; as one of a replicated SubJob's two nodes, would copy its twin, but has
 *            nothing to copy before it commits, so commits zeros
 * and two against training (fedavg-train), whose output is a CKKS-encrypted update:
 *   stale    trains from the first model a Job handed it instead of the one it is handed now (a
 *            node that never fetches the newer checkpoint): a real update, of an earlier epoch's
 *            model. Honest until a Job hands it a second model (epoch 0 has no earlier one).
 *   scaled   the honest update multiplied by `--scale k` (default 10), under encryption: a node
 *            boosting its influence on the model (the norm clip's target, fedavg-train.ts)
 * A real lazy node would read the output's shape and fuel off the model's graph and compute
 * nothing; these drills run the honest program for them (what is measured is the verifier's
 * answer, not the compute the cheat saves, which the bench accounts for).
 */
import { randomInt } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TypedDataDomain } from 'ethers';
import type { NodeActivities, NodeResult, NodeTask } from '../../lib/pipeline';
import { inputDigestOf, resultClaimOf, signResult } from '../../lib/attestations';
import { subJobIdOf } from '../../lib/ids';
import { EmethError } from '../../lib/errors';
import type { TypedDataSigner } from '../../lib/tickets';
import { DeclineRequest, type NodeL1 } from '../../activities/node';
import type { ProgramModule, RunInput, RunOutput } from '../../lib/programs';
import { decodeMatrix, encodeMatrix } from '../../lib/matrix';
import type { BlobStore } from '../../activities/storage';
import { readDataset, writeDataset, type Tensor } from '../../lib/tensors';
import { DEFAULT_VERIFICATION_POLICY } from '../../lib/verification-policy';
import type { Logger } from '../../lib/logger';
import type { Ckks } from '../../lib/ckks';
import { createCkks } from '../../activities/crypto/ckks';
import { EnvelopeKind, decodeEnvelope, encodeEnvelope } from '../../activities/programs/fedavg-format';

export const NODE_BEHAVIOURS = [
  'honest',
  'lie',
  'decline',
  'slow',
  'tamper-shard',
  'forge-sibling',
  'forge-attempt',
  'fake-failure',
  'lazy',
  'partial',
  'farmer',
  'copycat',
  'stale',
  'scaled',
  // Serves inference requests with every float output moved by +1 (workers/node/main.ts).
  'lie-serving',
] as const;
export type NodeBehaviour = (typeof NODE_BEHAVIOURS)[number];

export interface Drill {
  /** Wraps the program modules the node runs (lie, decline, fake-failure, tamper-shard). */
  program(inner: (programId: number) => ProgramModule): (programId: number) => ProgramModule;
  /** Wraps the node's activities (slow). */
  activities(inner: NodeActivities): NodeActivities;
  /** Hooks the envelope of each blob the node reads, after the store's hash check (tamper-shard). */
  onEnvelope?: (id: string, envelope: Uint8Array) => Uint8Array;
}

const HONEST: Drill = { program: (p) => p, activities: (a) => a };

export interface DrillOptions {
  store: () => BlobStore;
  slowMs: number;
  /** slow, on an L1 SubJob: takes it on chain first (a node that takes work and then stalls). */
  l1?: Pick<NodeL1, 'take'>;
  /** The node's own key and domain: a forging node signs its forgeries properly. */
  signer: TypedDataSigner;
  domain: TypedDataDomain;
  /** partial: rows changed per SubJob (default 1). */
  corruptRows?: number;
  /** lazy, partial, farmer, stale, scaled: SubJobs answered honestly before cheating (default 0; farmer: the probation length). */
  honestFirst?: number;
  /** scaled: the factor the honest update is multiplied by, a whole number ≥ 2 (default 10). */
  scale?: number;
  /** Where a cheating drill says which SubJobs it lied on (the bench reads it). */
  logger?: Logger;
}

export function drillFor(behaviour: NodeBehaviour, opts: DrillOptions): Drill {
  switch (behaviour) {
    case 'honest':
    case 'lie-serving':
      return HONEST;
    case 'decline':
      return {
        ...HONEST,
        program: withRun(async (input) => {
          throw new DeclineRequest(`declines SubJob ${input.context?.subJobId ?? input.shard.blobId}`);
        }),
      };
    case 'slow':
      return {
        ...HONEST,
        activities: (inner) => ({
          ...inner,
          async runSubJob(task) {
            // Stalls while heartbeating: the node looks alive but never answers in time.
            const ctx = Context.current();
            if (task.l1) await opts.l1?.take(task.jobId, task.l1.index);
            const beat = setInterval(() => ctx.heartbeat({ phase: 'stalling' }), 2000);
            try {
              await new Promise((r) => setTimeout(r, opts.slowMs));
            } finally {
              clearInterval(beat);
            }
            return inner.runSubJob(task);
          },
        }),
      };
    case 'lie':
      return {
        ...HONEST,
        program: withRun(async (input, run) => {
          const out = await run(input);
          return { ...out, outputBlobId: await corrupt(opts.store(), out.outputBlobId) };
        }),
      };
    case 'fake-failure':
      // Claims the requester's input broke the program, hoping to be excused for work it never did.
      return {
        ...HONEST,
        program: withRun(async () => {
          throw new EmethError('BAD_DATASET', 'the dataset is malformed (a lie)');
        }),
      };
    case 'forge-sibling':
      // Answers as if it had been handed a sibling SubJob, hoping to write over that one's output.
      return {
        ...HONEST,
        activities: (inner) => ({
          ...inner,
          runSubJob: async (task) =>
            reSigned(opts, await inner.runSubJob(task), {
              ...task,
              subJobId: subJobIdOf(task.jobId, 0, task.shard.index === 0 ? 1 : 0),
            }),
        }),
      };
    case 'forge-attempt':
      // Answers for another attempt of its own SubJob (a replay of, or a claim on, another attempt).
      return {
        ...HONEST,
        activities: (inner) => ({
          ...inner,
          runSubJob: async (task) =>
            reSigned(opts, await inner.runSubJob(task), { ...task, attempt: task.attempt + 1 }),
        }),
      };
    case 'copycat': {
      // Honest where it runs alone; as a replica it would copy its twin's answer, but commit–reveal
      // shows it nothing of its twin before it must commit. A copier without a source commits what
      // it can make without the work: the right shape, zeros.
      return rewritingDrill(
        opts,
        behaviour,
        opts.honestFirst ?? 0,
        (blob) => rewrite(opts.store(), blob, zeros),
        {
          when: (input) => input.context?.replica === true,
        },
      );
    }
    case 'lazy':
    case 'partial':
    case 'farmer': {
      const honestFirst =
        opts.honestFirst ?? (behaviour === 'farmer' ? DEFAULT_VERIFICATION_POLICY.probationSubJobs : 0);
      const rows = opts.corruptRows ?? 1;
      return rewritingDrill(opts, behaviour, honestFirst, (blob) =>
        rewrite(opts.store(), blob, behaviour === 'partial' ? (t) => corruptRows(t, rows) : zeros),
      );
    }
    case 'stale': {
      const honestFirst = opts.honestFirst ?? 0;
      // The first model each Job handed this node (a few Jobs back at most): it never looks further.
      const firstModel = new Map<string, string>();
      let answered = 0;
      return {
        ...HONEST,
        program: withRun(async (input, run) => {
          const job = input.context?.jobId ?? '';
          const earlier = firstModel.get(job);
          if (earlier === undefined) {
            firstModel.set(job, input.modelBlobId);
            if (firstModel.size > 16) firstModel.delete(firstModel.keys().next().value!);
          }
          const n = ++answered;
          // A stale update needs an earlier model than the one handed now; until then it is honest.
          const lie = n > honestFirst && earlier !== undefined && earlier !== input.modelBlobId;
          // The honest program, started from the earlier model: local − earlier on this shard,
          // encrypted to the Job's key with this shard's rows, the full fuel claimed.
          const out = await run(lie ? { ...input, modelBlobId: earlier } : input);
          logAnswer(opts, behaviour, input, n, lie);
          return out;
        }),
      };
    }
    case 'scaled': {
      const honestFirst = opts.honestFirst ?? 0;
      const k = opts.scale ?? DEFAULT_SCALE;
      if (!(Number.isInteger(k) && k >= 2 && k <= 2 ** 31)) {
        // Whole: CKKS multiplies by an integer without using a level, so the aggregator can still
        // sum the scaled update with fresh ones (a fractional factor would leave it unsummable).
        throw new Error(`--scale must be a whole number between 2 and 2^31, got ${k}`);
      }
      // Opened on the first lie, kept for the process's life (it holds no key: it only multiplies).
      let he: Promise<Ckks> | undefined;
      return rewritingDrill(opts, behaviour, honestFirst, (blob) =>
        scaleOutput(opts.store(), blob, k, () => (he ??= createCkks())),
      );
    }
    case 'tamper-shard': {
      const shards = new Set<string>();
      return {
        ...HONEST,
        program: withRun((input, run) => {
          shards.add(input.shard.blobId);
          return run(input);
        }),
        // One ciphertext byte flipped after the store's hash check, as if altered in memory or on a
        // path that does not re-hash: AES-256-GCM must refuse it.
        onEnvelope(id, envelope) {
          if (!shards.has(id)) return envelope;
          const altered = Uint8Array.from(envelope);
          altered[altered.length - 1] = altered[altered.length - 1]! ^ 0x01;
          return altered;
        },
      };
    }
  }
}

/** scaled: the factor when `--scale` is not given. */
export const DEFAULT_SCALE = 10;

/** Where a cheating drill says whether it lied on a SubJob (the bench and the attack tests read it). */
function logAnswer(
  opts: DrillOptions,
  behaviour: NodeBehaviour,
  input: RunInput,
  n: number,
  lie: boolean,
): void {
  opts.logger?.info(
    {
      drill: behaviour,
      subJobId: input.context?.subJobId,
      jobId: input.context?.jobId,
      n,
      lied: lie,
    },
    lie ? 'drill: cheated' : 'drill: answered honestly',
  );
}

/**
 * A cheat that runs the honest program, then, after `honestFirst` answers (and only where `when`
 * holds), replaces its output with `lie(output)`; it logs every answer for the bench and the tests.
 */
function rewritingDrill(
  opts: DrillOptions,
  behaviour: NodeBehaviour,
  honestFirst: number,
  lie: (outputBlobId: string) => Promise<string>,
  { when = () => true }: { when?: (input: RunInput) => boolean } = {},
): Drill {
  let answered = 0;
  return {
    ...HONEST,
    program: withRun(async (input, run) => {
      const out = await run(input);
      const n = ++answered;
      const lying = when(input) && n > honestFirst;
      logAnswer(opts, behaviour, input, n, lying);
      if (!lying) return out;
      const outputBlobId = await lie(out.outputBlobId);
      return { ...out, outputBlobId, outputDigest: outputBlobId };
    }),
  };
}

/** Wraps every program's `run` in `run2`, which may call the honest one. */
function withRun(run2: (input: RunInput, run: ProgramModule['run']) => Promise<RunOutput>): Drill['program'] {
  return (inner) => (id) => {
    const m = inner(id);
    return { ...m, spec: m.spec, run: (input) => run2(input, (i) => m.run(i)) };
  };
}

/** The node's honest output re-labelled as the answer to `as`, with a valid signature of its own. */
async function reSigned(opts: DrillOptions, r: NodeResult, as: NodeTask): Promise<NodeResult> {
  const claim = resultClaimOf(as, r.nodeId, r.output, r.fuelUsed);
  return {
    ...r,
    subJobId: as.subJobId,
    attempt: as.attempt,
    inputDigest: inputDigestOf(as),
    signature: await signResult(opts.signer, opts.domain, claim),
  };
}

/**
 * A lying node's output: plausible shape, wrong numbers (a matrix); for an output that is not a
 * plain matrix (a CKKS ciphertext), one flipped byte in the middle — tampering in transit or at rest.
 */
async function corrupt(store: BlobStore, blobId: string): Promise<string> {
  const bytes = await store.get(blobId);
  let m;
  try {
    m = decodeMatrix(bytes);
  } catch {
    const tampered = Uint8Array.from(bytes);
    const mid = tampered.length >> 1;
    tampered[mid] = (tampered[mid] ?? 0) ^ 0x5a;
    return store.put(tampered);
  }
  const data = Float32Array.from(m.data, (v, i) => (i % 7 === 0 ? v + 0.5 : v));
  return store.put(encodeMatrix({ ...m, data }));
}

/**
 * The output re-encoded in its own format with `change` applied to its tensors (every tensor keeps
 * its name, dtype and shape); an output that is no dataset (a CKKS ciphertext) gets one flipped byte.
 */
async function rewrite(
  store: BlobStore,
  blobId: string,
  change: (ts: Tensor[]) => Tensor[],
): Promise<string> {
  const bytes = await store.get(blobId);
  let ds;
  try {
    ds = await readDataset(bytes);
  } catch {
    const tampered = Uint8Array.from(bytes);
    const mid = tampered.length >> 1;
    tampered[mid] = (tampered[mid] ?? 0) ^ 0x5a;
    return store.put(tampered);
  }
  return store.put(writeDataset(ds.format, change(ds.tensors)));
}

/**
 * scaled: an encrypted update (fedavg-train) multiplied by `k` under encryption, its header (rows,
 * length) kept; any other output re-encoded with its float values multiplied by `k`.
 */
async function scaleOutput(
  store: BlobStore,
  blobId: string,
  k: number,
  ckks: () => Promise<Ckks>,
): Promise<string> {
  const bytes = await store.get(blobId);
  let update;
  try {
    update = decodeEnvelope(bytes, EnvelopeKind.UPDATE);
  } catch {
    return rewrite(store, blobId, (ts) =>
      ts.map((t) =>
        t.dtype === 'float32' || t.dtype === 'float64'
          ? ({ ...t, data: (t.data as Float32Array).map((v) => v * k) } as Tensor)
          : t,
      ),
    );
  }
  // The weighted sum of one part: k × the ciphertext, without any key.
  const ciphertext = (await ckks()).weightedSum([{ ciphertext: update.ciphertext, weight: k }]);
  return store.put(encodeEnvelope({ ...update, ciphertext }));
}

/** lazy: every value zero (float16 zero is the all-zero bit pattern too). */
const zeros = (ts: Tensor[]): Tensor[] =>
  ts.map((t) => {
    const Ctor = t.data.constructor as new (n: number) => Tensor['data'];
    return { ...t, data: new Ctor(t.data.length) } as Tensor;
  });

/** partial: `k` distinct rows, drawn at random (the verifier cannot know them), each value changed. */
function corruptRows(ts: Tensor[], k: number): Tensor[] {
  const rows = ts[0]?.shape[0] ?? 0;
  const chosen = new Set<number>();
  while (chosen.size < Math.min(k, rows)) chosen.add(randomInt(rows));
  return ts.map((t) => {
    const data = t.data.slice() as Tensor['data'];
    const d = data as unknown as (number | bigint)[];
    const per = rows === 0 ? 0 : data.length / rows;
    for (const r of chosen)
      for (let j = r * per; j < (r + 1) * per; j++) {
        const v = d[j]!;
        if (typeof v === 'bigint') d[j] = v + 1n;
        else if (t.dtype === 'bool') d[j] = v ? 0 : 1;
        // float16 bits: 1.0 (0x3c00), or 2.0 where the value was 1.0.
        else if (t.dtype === 'float16') d[j] = v === 0x3c00 ? 0x4000 : 0x3c00;
        else if (t.dtype === 'float32' || t.dtype === 'float64') d[j] = Number.isFinite(v) ? v + 0.5 : 0;
        // Integers: one more (the typed array wraps at its range).
        else d[j] = v + 1;
      }
    return { ...t, data } as Tensor;
  });
}
