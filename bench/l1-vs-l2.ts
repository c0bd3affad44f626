/**
 * Gas and chain latency per SubJob, L1 (paper 7-2) against L2 (paper 7-3), both measured in the
 * same run on one fresh anvil with the real contracts. Each way runs `jobs` Jobs of `subjobs`
 * SubJobs (the paper's example per SubJob: 120,000 fuel × 120 Gholon, 100,000 fuel used), the
 * SubJob i of a Job going to node i mod `nodes` (registered and staked on EmethCore), one verifier.
 *
 * L1, through the workers' own activities (activities/chain/l1.ts over createChainTx): the requester
 * deposits once and signs an EIP-712 Request per Job; the relayer (the L2 server's key) sends
 * `requestFor`, which escrows from the deposit; the L1 server `registerSubJobs`; per SubJob its node
 * sends `process` then `submit` and the verifier `verify`. Gas per SubJob = process + submit +
 * verify + (requestFor + registerSubJobs)/K. Latency per SubJob: from the start of its `process`
 * activity to the receipt of its `verify` (SubJobVerified); the Job's requestFor → registerSubJobs
 * comes before any SubJob and is reported beside it.
 *
 * L2, through the L2 server's EmethCore client (activities/chain/core-client.ts) and the payees'
 * `redeemTickets` (activities/chain/account.ts): the L2 server `commit`s the requester's signed
 * Commit; each verified SubJob earns a node ticket and a verifier ticket (lib/tickets subJobTickets);
 * the Signer signs one batch per Job (`--batch job`, default) or one for every Job of the run
 * (`--batch interval`: the Signer's interval), which is a signature, not a transaction; each payee
 * redeems its tickets of a batch in one transaction (`redeem` for one ticket, `redeemMany` for
 * more, as the redeemer does); the L2 server `settleCommitment`s each Job at its end. Gas per SubJob
 * = (commit + settle)/K + its share of the redemptions that carry its tickets (a redemption's gas
 * split evenly over its tickets). The dispatcher also locks each attempt's worst penalty on chain
 * (`lockStake` when the node is given its task, `releaseStake` when the attempt closes verified):
 * shown as a row of its own, since those two are on the SubJob's critical path and the rest is not.
 *
 *   npx tsx bench/l1-vs-l2.ts [--jobs 5] [--subjobs 3] [--nodes <subjobs>] [--batch job|interval] [--warmup 1]
 *
 * (env EMETH_BENCH_JOBS, EMETH_BENCH_SUBJOBS, EMETH_BENCH_NODES, EMETH_BENCH_BATCH give the defaults).
 * Prints a markdown table, a per-step table, then one JSON line with the figures. Gas is receipt
 * gasUsed (21,000 base and calldata included). Latency is anvil's (automine, local RPC): the round
 * trips of each activity (its pre-read, estimate, send, receipt), not block time; on a real chain
 * each sequential step waits for a block, so the number of sequential steps is what carries over.
 */
import { parseArgs } from 'node:util';
import { HDNodeWallet, JsonRpcProvider, MaxUint256, id } from 'ethers';
import { startAnvil } from '../cli/stack/anvil';
import { deployContracts } from '../contracts/deploy';
import { OPTIMIZER_RUNS } from '../contracts/compile';
import { SerialSigner } from '../contracts/serial-signer';
import { emethCore, emethToken } from '../contracts/typed';
import { EMETH, GHOLON, feeOf, jobEscrowOf, penaltyOf, quote, splitShares } from '../lib/fees';
import { JobStatus } from '../lib/types-chain';
import {
  TicketTree,
  emethDomain,
  serializeTicket,
  signBatch,
  subJobTickets,
  type Ticket,
  type TicketRole,
} from '../lib/tickets';
import {
  createAccountActivities,
  createChainTx,
  createEmethCoreClient,
  createL1Activities,
  datasetId32,
  signCommit,
  signL1Request,
  type L1Request,
} from '../activities/chain';
import { median } from './support';

const MNEMONIC = 'test test test test test test test test test test test junk';
const FUEL_LIMIT = 120_000n; // per SubJob, the paper's example
const FUEL_PRICE = 120n * GHOLON;
const FUEL_USED = 100_000n;
const STAKE = 1_000n * EMETH;

type Layer = 'L1' | 'L2';

/** One transaction (or, for L1, one activity that sent one). */
interface Tx {
  layer: Layer;
  step: string;
  gas: bigint;
  ms: number;
  /** The SubJobs this transaction serves, once per ticket or share it carries for them. */
  serves: string[];
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

function options() {
  const env = process.env;
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: env.EMETH_BENCH_JOBS ?? '5' },
      subjobs: { type: 'string', default: env.EMETH_BENCH_SUBJOBS ?? '3' },
      nodes: { type: 'string', default: env.EMETH_BENCH_NODES },
      batch: { type: 'string', default: env.EMETH_BENCH_BATCH ?? 'job' },
      warmup: { type: 'string', default: '1' },
    },
  });
  const jobs = Number(values.jobs);
  const subJobs = Number(values.subjobs);
  const nodes = Number(values.nodes ?? values.subjobs);
  const warmup = Number(values.warmup);
  for (const [name, v, min] of [
    ['jobs', jobs, 1],
    ['subjobs', subJobs, 1],
    ['nodes', nodes, 1],
    ['warmup', warmup, 0],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  }
  if (values.batch !== 'job' && values.batch !== 'interval')
    throw new Error(`--batch must be job or interval, not ${values.batch}`);
  return { jobs, subJobs, nodes, warmup, batch: values.batch };
}

async function main(): Promise<void> {
  const o = options();
  const anvil = await startAnvil();
  // No response cache (a receipt wait could miss its block); receipts are there at once (automine).
  const provider = new JsonRpcProvider(anvil.rpcUrl, undefined, { batchStallTime: 0, cacheTimeout: -1 });
  provider.pollingInterval = 50;
  try {
    const wallet = (i: number) =>
      HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).connect(provider);
    const [admin, requester, server, signerKey, verifierKey] = [0, 1, 2, 3, 4].map(wallet) as [
      HDNodeWallet,
      HDNodeWallet,
      HDNodeWallet,
      HDNodeWallet,
      HDNodeWallet,
    ];
    const nodeKeys = Array.from({ length: o.nodes }, (_, i) => wallet(5 + i));
    const adminSigner = new SerialSigner(admin);
    const deployment = await deployContracts(adminSigner, {
      l1Servers: [server.address],
      verifiers: [verifierKey.address],
      signers: [signerKey.address],
      l2Servers: [server.address],
    });
    const domain = emethDomain(deployment.chainId, deployment.core);

    // One serialized signer per key, shared by every activity of that key (as a worker does).
    const signers = new Map<string, SerialSigner>();
    const serial = (w: HDNodeWallet) => {
      let s = signers.get(w.address);
      if (!s) signers.set(w.address, (s = new SerialSigner(w)));
      return s;
    };
    const chainTx = (w: HDNodeWallet) => createChainTx({ provider, signer: serial(w), deployment });

    // Setup (not measured): every party holds tokens already (no first-ever-transfer surcharge on
    // either side), the requester keeps a deposit, each node registers with a stake.
    const token = emethToken(deployment.token, adminSigner);
    // anvil funds accounts 0..9 with ether; nodes past those get 100 ETH here.
    for (const w of nodeKeys.slice(5))
      await provider.send('anvil_setBalance', [w.address, '0x56BC75E2D63100000']);
    for (const w of [requester, verifierKey, ...nodeKeys]) {
      await (await token.mint(w.address, 10_000n * EMETH)).wait();
      await (await emethToken(deployment.token, serial(w)).approve(deployment.core, MaxUint256)).wait();
    }
    await (await emethCore(deployment.core, serial(requester)).deposit(5_000n * EMETH)).wait();
    for (const [i, w] of nodeKeys.entries())
      await (await emethCore(deployment.core, serial(w)).registerNode(STAKE, id(`node-key-${i}`), 1)).wait();

    const relayer = createL1Activities(chainTx(server)); // the L2 relays signed Requests
    const l1Server = createL1Activities(chainTx(server));
    const l1Verifier = createL1Activities(chainTx(verifierKey));
    const l1Nodes = nodeKeys.map((w) => createL1Activities(chainTx(w)));
    const l2Server = createEmethCoreClient(deployment.core, serial(server));
    const payees = new Map<string, ReturnType<typeof createAccountActivities>>(
      [verifierKey, ...nodeKeys].map((w) => [w.address, createAccountActivities(chainTx(w))]),
    );

    const K = o.subJobs;
    const jobFuel = FUEL_LIMIT * BigInt(K);
    const shards = Array.from({ length: K }, () => 1n);
    const shares = splitShares(jobFuel, quote(jobFuel, FUEL_PRICE, 0n).verifierFee, shards);
    const nodeOf = (i: number) => nodeKeys[i % nodeKeys.length]!;
    const now = async () => BigInt((await provider.getBlock('latest'))!.timestamp);
    const gasOfHash = async (hash: string | undefined) => {
      if (!hash) throw new Error('a benchmark step sent nothing');
      const r = await provider.getTransactionReceipt(hash);
      if (!r || r.status !== 1) throw new Error(`benchmark transaction ${hash} reverted`);
      return r.gasUsed;
    };

    let txs: Tx[] = [];
    let l1SubJobMs: number[] = [];
    let l1SetupMs: number[] = [];
    /** Times one step (an activity that sent one transaction) and records its gas. */
    async function step(
      layer: Layer,
      name: string,
      serves: string[],
      call: () => Promise<{ gasUsed?: string; alreadyDone: boolean }>,
    ): Promise<void> {
      const t0 = performance.now();
      const r = await call();
      const ms = performance.now() - t0;
      if (r.alreadyDone || r.gasUsed === undefined) throw new Error(`${layer} ${name}: nothing was sent`);
      txs.push({ layer, step: name, gas: BigInt(r.gasUsed), ms, serves });
    }
    /** The same for an L2 server call, which returns the hash only. */
    async function serverStep(name: string, serves: string[], call: () => Promise<string | undefined>) {
      const t0 = performance.now();
      const hash = await call();
      const ms = performance.now() - t0;
      txs.push({ layer: 'L2', step: name, gas: await gasOfHash(hash), ms, serves });
    }

    let seq = 0;
    async function l1Job(): Promise<void> {
      const tag = `l1-${seq++}`;
      const subs = shards.map((_, i) => `${tag}#${i}`);
      const request: L1Request = {
        requester: requester.address,
        jobId: id(tag),
        programId: 1,
        fuelLimit: jobFuel,
        fuelPrice: FUEL_PRICE,
        deadline: (await now()) + 86_400n,
        dataset: datasetId32(`blob-${tag}`),
      };
      const signature = await signL1Request(requester, domain, request); // at submit, off chain
      const t0 = performance.now();
      await step('L1', 'requestFor', subs, () => relayer.requestJobFor(request, signature));
      await step('L1', 'registerSubJobs', subs, () => l1Server.registerSubJobs(request.jobId, shards));
      l1SetupMs.push(performance.now() - t0);
      for (const [i, sub] of subs.entries()) {
        const node = l1Nodes[i % l1Nodes.length]!;
        const s0 = performance.now();
        await step('L1', 'process', [sub], () => node.processSubJob(request.jobId, i));
        await step('L1', 'submit', [sub], () =>
          node.submitResult(request.jobId, i, id(`result-${sub}`), FUEL_USED),
        );
        await step('L1', 'verify', [sub], () => l1Verifier.verifySubJob(request.jobId, i));
        l1SubJobMs.push(performance.now() - s0);
      }
      const job = await l1Server.getJob(request.jobId);
      if (job?.status !== JobStatus.Finished || job.verifiedCount !== K)
        throw new Error(`L1 Job ${tag} did not finish with ${K} verified SubJobs`);
    }

    /** `count` L2 Jobs whose tickets go into one signed batch. */
    async function l2Jobs(count: number, batchId: bigint): Promise<void> {
      const jobs = await Promise.all(
        Array.from({ length: count }, async () => {
          const tag = `l2-${seq++}`;
          const c = {
            requester: requester.address,
            jobId: id(tag),
            amount: jobEscrowOf(jobFuel, FUEL_PRICE),
            deadline: (await now()) + 86_400n,
          };
          return { tag, c, signature: await signCommit(requester, domain, c) };
        }),
      );
      const tickets: { ticket: Ticket; role: TicketRole; sub: string }[] = [];
      for (const { tag, c, signature } of jobs) {
        const subs = shards.map((_, i) => `${tag}#${i}`);
        await serverStep('commit', subs, () => l2Server.commit(c, signature));
        for (const [i, sub] of subs.entries()) {
          const node = nodeOf(i).address;
          const attempt = `emeth:penalty:${sub}/1`;
          const feeLimit = shares.fuelLimits[i]! * FUEL_PRICE;
          // Dispatcher: the attempt's worst penalty held back, then given back when it closes verified.
          await serverStep('lockStake', [sub], () =>
            l2Server.lockStake(node, attempt, penaltyOf('decline', feeLimit, feeLimit)),
          );
          // (the node runs it, the verifier checks it: off chain)
          await serverStep('releaseStake', [sub], () => l2Server.releaseStake(attempt));
          for (const t of subJobTickets({
            jobId: c.jobId,
            subJobId: id(sub),
            node,
            requester: requester.address,
            amount: feeOf(FUEL_USED, FUEL_PRICE),
            verifier: verifierKey.address,
            verifierFee: shares.verifierFees[i]!,
          }))
            tickets.push({ ...t, sub });
        }
      }
      // The Signer: one Merkle root over the batch's tickets, one EIP-712 signature; no transaction.
      const tree = new TicketTree(tickets.map((t) => t.ticket));
      const batch = tree.batch(batchId);
      const signature = await signBatch(signerKey, domain, batch);
      const wire = {
        batch: { batchId: String(batch.batchId), root: batch.root, total: String(batch.total) },
        signature,
        tickets: tree.tickets.map(serializeTicket),
      };
      // Each payee redeems its own tickets of the batch in one transaction.
      const byPayee = new Map<string, number[]>();
      tickets.forEach((t, i) => {
        const payee = t.role === 'verifier' ? t.ticket.verifier : t.ticket.node;
        byPayee.set(payee, [...(byPayee.get(payee) ?? []), i]);
      });
      for (const [payee, indices] of byPayee) {
        const role = payee === verifierKey.address ? 'verifier' : 'node';
        await step(
          'L2',
          `redeem (${role}, ${indices.length} ticket${indices.length > 1 ? 's' : ''})`,
          indices.map((i) => tickets[i]!.sub),
          () => payees.get(payee)!.redeemTickets({ ...wire, indices }),
        );
      }
      // The Ledger lowers each Job's commitment to what its tickets charge.
      for (const { tag, c } of jobs) {
        const charged = tickets
          .filter((t) => t.ticket.jobId === c.jobId)
          .reduce((s, t) => s + t.ticket.amount + t.ticket.verifierFee, 0n);
        const subs = shards.map((_, i) => `${tag}#${i}`);
        await serverStep('settleCommitment', subs, () =>
          l2Server.settleCommitment(requester.address, c.jobId, charged),
        );
        const m = await l2Server.commitmentOf(requester.address, c.jobId);
        if (!m?.settled || m.spent !== charged || m.amount !== charged)
          throw new Error(`L2 Job ${tag}: commitment not settled at what was redeemed`);
      }
    }

    let batchId = 0n;
    /** One round: L1 then L2 per Job (batch per Job), or every Job of each (batch per interval). */
    async function round(jobs: number): Promise<void> {
      if (o.batch === 'job') {
        for (let j = 0; j < jobs; j++) {
          await l1Job();
          await l2Jobs(1, ++batchId);
        }
      } else {
        for (let j = 0; j < jobs; j++) await l1Job();
        await l2Jobs(jobs, ++batchId);
      }
    }
    if (o.warmup > 0) await round(o.warmup); // connections, JIT; thrown away
    txs = [];
    l1SubJobMs = [];
    l1SetupMs = [];
    await round(o.jobs);

    // Per SubJob: its share of each transaction that serves it.
    const perSub = new Map<
      string,
      { layer: Layer; gas: number; lockGas: number; txs: number; lockTxs: number }
    >();
    const chainMs = new Map<string, { locks: number; redeems: number }>();
    for (const t of txs) {
      const isLock = t.step === 'lockStake' || t.step === 'releaseStake';
      for (const sub of t.serves) {
        const p = perSub.get(sub) ?? { layer: t.layer, gas: 0, lockGas: 0, txs: 0, lockTxs: 0 };
        const share = 1 / t.serves.length;
        if (isLock) {
          p.lockGas += Number(t.gas) * share;
          p.lockTxs += share;
        } else {
          p.gas += Number(t.gas) * share;
          p.txs += share;
        }
        perSub.set(sub, p);
        if (t.layer === 'L2') {
          const m = chainMs.get(sub) ?? { locks: 0, redeems: 0 };
          if (isLock) m.locks += t.ms;
          else if (t.step.startsWith('redeem')) m.redeems += t.ms;
          chainMs.set(sub, m);
        }
      }
    }
    const subsOf = (layer: Layer) => [...perSub.values()].filter((p) => p.layer === layer);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const l1 = subsOf('L1');
    const l2 = subsOf('L2');
    const l2Ms = [...chainMs.values()];
    const rows = {
      l1: {
        txs: mean(l1.map((p) => p.txs)),
        gas: mean(l1.map((p) => p.gas)),
        ms: l1SubJobMs,
      },
      l2: {
        txs: mean(l2.map((p) => p.txs)),
        gas: mean(l2.map((p) => p.gas)),
        ms: l2Ms.map((m) => m.redeems),
      },
      l2Locks: {
        txs: mean(l2.map((p) => p.txs + p.lockTxs)),
        gas: mean(l2.map((p) => p.gas + p.lockGas)),
        ms: l2Ms.map((m) => m.locks + m.redeems),
      },
    };
    const l2CriticalMs = l2Ms.map((m) => m.locks);

    const fmt = (g: number | bigint) => Math.round(Number(g)).toLocaleString('en-US');
    const ms = (x: number) => x.toFixed(1);
    const lat = (xs: number[]) => `${ms(median(xs))} / ${ms(percentile(xs, 90))} ms`;
    const ratio = (g: number) => `${(rows.l1.gas / g).toFixed(2)}×`;
    const batchWord =
      o.batch === 'job' ? 'one signed batch per Job' : `one signed batch for all ${o.jobs} Jobs (interval)`;
    const out: string[] = [];
    out.push(
      `L1 vs L2 per SubJob: ${o.jobs} Jobs × ${K} SubJobs each way, ${o.nodes} node${o.nodes > 1 ? 's' : ''}, 1 verifier, ${batchWord}; ` +
        `120,000 fuel × 120 Gholon per SubJob, 100,000 used (solc viaIR, optimizer runs ${OPTIMIZER_RUNS}, anvil automine)`,
    );
    out.push('');
    out.push(
      '| layer | txs per SubJob | gas per SubJob (mean) | chain latency per SubJob (median / p90) | gas ratio L1/L2 |',
    );
    out.push('|---|---:|---:|---:|---:|');
    out.push(
      `| L1 (7-2): requestFor, registerSubJobs, process, submit, verify | ${rows.l1.txs.toFixed(2)} | ${fmt(rows.l1.gas)} | ${lat(rows.l1.ms)} | 1.00× |`,
    );
    out.push(
      `| L2 (7-3): commit, ticket redemptions, settleCommitment | ${rows.l2.txs.toFixed(2)} | ${fmt(rows.l2.gas)} | ${lat(rows.l2.ms)} | ${ratio(rows.l2.gas)} |`,
    );
    out.push(
      `| L2 (7-3) + the dispatcher's lockStake/releaseStake per attempt | ${rows.l2Locks.txs.toFixed(2)} | ${fmt(rows.l2Locks.gas)} | ${lat(rows.l2Locks.ms)} (on the path: ${lat(l2CriticalMs)}) | ${ratio(rows.l2Locks.gas)} |`,
    );
    out.push('');
    out.push(
      `- L1: 3 transactions of its own per SubJob (process → submit → verify, one after the other, all on the requester's critical path) ` +
        `plus (requestFor + registerSubJobs)/${K}; latency from its process activity to its verify receipt (SubJobVerified). ` +
        `Before any SubJob the Job's requestFor → registerSubJobs takes ${lat(l1SetupMs)} (median / p90), also on the critical path.`,
    );
    out.push(
      `- L2: (commit + settleCommitment)/${K} plus its share of the redemptions carrying its node ticket and its verifier ticket ` +
        `(${batchWord}: a batch is a signature, not a transaction). Latency = those redemptions' own latencies; the SubJob is ` +
        `verified off chain and paid when its batch is redeemed, so the requester-visible latency includes none of it.`,
    );
    out.push(
      `- L2 + stake locks: what the L2 also sends per attempt today (activities/dispatcher openAttempt/closeAttempt). Those two ARE ` +
        `awaited on the SubJob's path: ${lat(l2CriticalMs)} (median / p90) of chain latency the requester does wait for.`,
    );

    // Per step: gas per transaction and latency, to cross-check with bench/gas.ts.
    const steps = new Map<string, Tx[]>();
    for (const t of txs) steps.set(`${t.layer} ${t.step}`, [...(steps.get(`${t.layer} ${t.step}`) ?? []), t]);
    out.push('');
    out.push('| step | txs | gas per tx (median) | min–max | latency (median / p90) |');
    out.push('|---|---:|---:|---:|---:|');
    const stepFigures = [...steps].map(([name, ts]) => {
      const gas = ts.map((t) => Number(t.gas));
      const lats = ts.map((t) => t.ms);
      out.push(
        `| ${name} | ${ts.length} | ${fmt(median(gas))} | ${fmt(Math.min(...gas))}–${fmt(Math.max(...gas))} | ${lat(lats)} |`,
      );
      return {
        step: name,
        txs: ts.length,
        gasMedian: median(gas),
        gasMin: Math.min(...gas),
        gasMax: Math.max(...gas),
        msMedian: Number(median(lats).toFixed(2)),
        msP90: Number(percentile(lats, 90).toFixed(2)),
      };
    });
    console.log(out.join('\n'));
    const figure = (r: { txs: number; gas: number; ms: number[] }) => ({
      txsPerSubJob: Number(r.txs.toFixed(4)),
      gasPerSubJob: Math.round(r.gas),
      msMedian: Number(median(r.ms).toFixed(2)),
      msP90: Number(percentile(r.ms, 90).toFixed(2)),
    });
    console.log(
      JSON.stringify({
        bench: 'l1-vs-l2',
        jobs: o.jobs,
        subJobsPerJob: K,
        nodes: o.nodes,
        batch: o.batch,
        l1: { ...figure(rows.l1), jobSetupMsMedian: Number(median(l1SetupMs).toFixed(2)) },
        l2: figure(rows.l2),
        l2WithStakeLocks: {
          ...figure(rows.l2Locks),
          criticalPathMsMedian: Number(median(l2CriticalMs).toFixed(2)),
          criticalPathMsP90: Number(percentile(l2CriticalMs, 90).toFixed(2)),
        },
        gasRatioL1L2: Number((rows.l1.gas / rows.l2.gas).toFixed(3)),
        gasRatioL1L2WithStakeLocks: Number((rows.l1.gas / rows.l2Locks.gas).toFixed(3)),
        steps: stepFigures,
      }),
    );
  } finally {
    provider.destroy();
    await anvil.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
