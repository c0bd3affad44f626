/**
 * Randomized property test: 500+ random operations by several actors (seeded, so a failure
 * replays with the same SEED constant below). After every operation:
 *   - token conservation: Σ balances of every holder == totalSupply, and totalSupply + burned == minted;
 *   - solvency: EmethCore's token balance == Σ job escrows + Σ node stakes (incl. unstaking) + Σ deposits,
 *     i.e. no escrow, stake or deposit is ever negative or unbacked;
 *   - committed + pending withdrawal ≤ balance for every deposit, locked ≤ stake for every node, and
 *     (at the end) each requester's committed == Σ (amount − spent) of its commitments;
 *   - every refused operation reverts with a named custom error.
 */
import { decodeRevert } from '../../contracts/errors';
import { EMETH, GHOLON } from '../../lib/fees';
import { TicketTree, emethDomain, signBatch, type Ticket } from '../../lib/tickets';
import { SubJobStatus } from '../../lib/types-chain';
import { id32, mined, startHarness, type Actor, type Harness } from './harness';
import { signCommit } from '../../activities/chain/commitments';

jest.setTimeout(180_000);

const OPS = 520;
const SEED = 0x5eed_e7e7;

/** mulberry32: small, fast, good enough to pick operations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SubState {
  status: SubJobStatus;
  node?: Actor;
  fuelLimit: bigint;
}
interface JobState {
  id: string;
  requester: Actor;
  subs: SubState[];
  processed: boolean;
  open: boolean;
}

let h: Harness;
afterAll(async () => h?.stop());

it(`keeps tokens conserved and escrows backed over ${OPS} random operations`, async () => {
  const FUND = 1_000n * EMETH;
  h = await startHarness({ fund: FUND });
  const rnd = prng(SEED);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const big = (lo: number, hi: number): bigint => BigInt(int(lo, hi));

  const requesters = ['requester', 'requester2', 'outsider'].map((n) => h.actor(n));
  const nodes = ['node', 'node2', 'node3'].map((n) => h.actor(n));
  const verifier = h.actor('verifier');
  const signer = h.actor('signer');
  const server = h.actor('server');
  const admin = h.admin;
  const holders = [...h.actors.map((a) => a.address), h.deployment.core];
  const minted = FUND * BigInt(h.actors.length);
  const jobs: JobState[] = [];
  const domain = emethDomain(h.deployment.chainId, h.deployment.core);
  const counts: Record<string, number> = {};
  const dirty = new Set<JobState>();
  const escrowOf = new Map<string, bigint>();
  const commitments: { requester: Actor; jobId: string; deadline: bigint }[] = [];
  const locks: { node: Actor; id: string }[] = [];
  let refusals = 0;

  for (const n of nodes) await mined(n.core.registerNode(50n * EMETH, id32(n.name), 1));
  for (const r of requesters) await mined(r.core.deposit(20n * EMETH));

  /** Runs a transaction; a refusal must be a named custom error (returned), anything else fails. */
  async function attempt(label: string, tx: () => Promise<unknown>): Promise<string | undefined> {
    try {
      await mined(tx() as never);
      counts[label] = (counts[label] ?? 0) + 1;
      return undefined;
    } catch (err) {
      const decoded = decodeRevert(err);
      if (!decoded)
        throw new Error(`${label} failed without a named error: ${(err as Error).message}`, { cause: err });
      refusals++;
      counts[`${label}✗${decoded.error.name}`] = (counts[`${label}✗${decoded.error.name}`] ?? 0) + 1;
      return decoded.error.name;
    }
  }

  async function refreshSub(job: JobState, i: number): Promise<void> {
    dirty.add(job);
    const s = await admin.core.getSubJob(job.id, i);
    job.subs[i]!.status = Number(s.status) as SubJobStatus;
    job.subs[i]!.node =
      s.node === '0x0000000000000000000000000000000000000000'
        ? undefined
        : nodes.find((n) => n.address === s.node);
  }

  function subsIn(status: SubJobStatus): [JobState, number][] {
    const out: [JobState, number][] = [];
    for (const j of jobs) if (j.open) j.subs.forEach((s, i) => s.status === status && out.push([j, i]));
    return out;
  }

  async function checkInvariants(step: number): Promise<void> {
    const [balances, supply, burned, coreBalance, deposits, nodeStates, escrows] = await Promise.all([
      Promise.all(holders.map((a) => h.balance(a))),
      admin.token.totalSupply(),
      admin.core.totalBurned(),
      h.balance(h.deployment.core),
      Promise.all(requesters.map((r) => admin.core.getDeposit(r.address))),
      Promise.all(nodes.map((n) => admin.core.getNode(n.address))),
      Promise.all([...dirty].map(async (j) => [j, await admin.core.getJob(j.id)] as const)),
    ]);
    // Only jobs an operation touched can have changed; the others keep their cached escrow. A bug
    // that moved another job's money would still show up as held ≠ EmethCore's balance.
    for (const [j, onChain] of escrows) {
      escrowOf.set(j.id, onChain.escrow);
      if (onChain.status >= 3n) j.open = false;
    }
    dirty.clear();
    const sum = balances.reduce((a, b) => a + b, 0n);
    const held =
      [...escrowOf.values()].reduce((a, e) => a + e, 0n) +
      nodeStates.reduce(
        (a: bigint, n: { stake: bigint; unstaking: bigint }) => a + n.stake + n.unstaking,
        0n,
      ) +
      deposits.reduce((a: bigint, d: { balance: bigint }) => a + d.balance, 0n);
    const ctx = `after step ${step} (seed ${SEED})`;
    expect({ ctx, sum }).toEqual({ ctx, sum: supply });
    expect({ ctx, minted: supply + burned }).toEqual({ ctx, minted });
    expect({ ctx, held }).toEqual({ ctx, held: coreBalance });
    for (const n of nodeStates) expect(n.locked <= n.stake).toBe(true);
    for (const d of deposits) expect(d.pendingWithdrawal + d.committed <= d.balance).toBe(true);
    // Jobs that ended hold nothing.
    for (const j of jobs)
      if (!j.open)
        expect({ ctx, job: j.id, escrow: escrowOf.get(j.id) }).toEqual({ ctx, job: j.id, escrow: 0n });
  }

  const ops: [number, () => Promise<void>][] = [
    [
      6,
      async () => {
        const r = pick(requesters);
        const jobId = id32(`p-${jobs.length}-${rnd()}`);
        const fuelLimit = big(1, 200_000);
        const deadline = (await h.now()) + big(3_600, 200_000);
        if (
          (await attempt('request', () =>
            r.core.request(
              jobId,
              pick([1, 2, 3]),
              fuelLimit,
              big(1, 200) * GHOLON + big(0, 999),
              deadline,
              id32('d'),
            ),
          )) !== undefined
        )
          return;
        const job: JobState = { id: jobId, requester: r, subs: [], processed: false, open: true };
        jobs.push(job);
        dirty.add(job);
        const sizes = Array.from({ length: int(1, 4) }, () => big(1, 100));
        if (
          (await attempt('registerSubJobs', () => server.core.registerSubJobs(jobId, sizes))) === undefined
        ) {
          for (let i = 0; i < sizes.length; i++) {
            const s = await admin.core.getSubJob(jobId, i);
            job.subs.push({ status: SubJobStatus.Open, fuelLimit: s.fuelLimit });
          }
        }
      },
    ],
    [
      1,
      async () => {
        const j = pick(jobs.filter((x) => x.open) ?? []);
        if (!j) return;
        dirty.add(j);
        const name = await attempt('cancel', () => j.requester.core.cancel(j.id));
        if (name === undefined) j.open = false;
        else if (!j.processed && j.subs.length > 0)
          throw new Error(`cancel of an unprocessed job refused: ${name}`);
      },
    ],
    [
      8,
      async () => {
        const open = subsIn(SubJobStatus.Open);
        if (open.length === 0) return;
        const [j, i] = pick(open);
        const n = pick(nodes);
        if ((await attempt('process', () => n.core.process(j.id, i))) === undefined) j.processed = true;
        await refreshSub(j, i);
      },
    ],
    [
      6,
      async () => {
        const busy = subsIn(SubJobStatus.Processing);
        if (busy.length === 0) return;
        const [j, i] = pick(busy);
        const s = j.subs[i]!;
        const over = rnd() < 0.1;
        const used = over ? s.fuelLimit + 1n : BigInt(Math.floor(rnd() * Number(s.fuelLimit + 1n)));
        const name = await attempt('submit', () => s.node!.core.submit(j.id, i, id32('r'), used));
        if (over) expect(name).toBe('FuelUsedExceedsLimit');
        await refreshSub(j, i);
      },
    ],
    [
      2,
      async () => {
        const busy = subsIn(SubJobStatus.Processing);
        if (busy.length === 0) return;
        const [j, i] = pick(busy);
        await attempt('decline', () => j.subs[i]!.node!.core.decline(j.id, i));
        await refreshSub(j, i);
      },
    ],
    [
      6,
      async () => {
        const done = subsIn(SubJobStatus.Submitted);
        if (done.length === 0) return;
        const [j, i] = pick(done);
        const fn = rnd() < 0.75 ? 'verify' : 'reject';
        await attempt(fn, () => verifier.core[fn](j.id, i));
        await refreshSub(j, i);
      },
    ],
    [
      2,
      async () => {
        const candidates = [...subsIn(SubJobStatus.Processing), ...subsIn(SubJobStatus.Open)];
        if (candidates.length === 0) return;
        const [j, i] = pick(candidates);
        if (rnd() < 0.5) await h.increaseTime(int(600, 4_000));
        await attempt('timeout', () => verifier.core.timeout(j.id, i));
        await refreshSub(j, i);
      },
    ],
    [
      3,
      async () => {
        const r = pick(requesters);
        const k = rnd();
        if (k < 0.4) await attempt('deposit', () => r.core.deposit(big(1, 5_000) * 10n ** 15n));
        else if (k < 0.7)
          await attempt('requestWithdrawal', () => r.core.requestWithdrawal(big(1, 8_000) * 10n ** 15n));
        else if (k < 0.9) await attempt('withdraw', () => r.core.withdraw());
        else await attempt('cancelWithdrawal', () => r.core.cancelWithdrawal());
      },
    ],
    [
      5,
      async () => {
        const tickets: Ticket[] = Array.from({ length: int(1, 6) }, (_, k) => ({
          jobId: id32(`tj-${rnd()}`),
          subJobId: id32(`ts-${k}-${rnd()}`),
          node: pick(nodes).address,
          requester: pick(requesters).address,
          amount: big(0, 1_000) * 10n ** 15n,
          verifier: pick([verifier, h.admin]).address,
          verifierFee: big(0, 100) * 10n ** 15n,
        }));
        // The L2 commits most Jobs' cost first (the requester signs); the others stay uncommitted.
        for (const t of tickets) {
          if (rnd() < 0.15) continue;
          const who = requesters.find((r) => r.address === t.requester)!;
          const c = {
            requester: who.address,
            jobId: t.jobId,
            amount: t.amount + t.verifierFee + BigInt(int(0, 1)),
            deadline: (await h.now()) + big(600, 90_000),
          };
          if (c.amount === 0n) continue;
          const sig = await signCommit(who.wallet, domain, c);
          const refused = await attempt('commit', () => server.core.commit(c, sig));
          if (refused === undefined)
            commitments.push({ requester: who, jobId: c.jobId, deadline: c.deadline });
          else expect(refused).toBe('InsufficientFreeDeposit');
        }
        const tree = new TicketTree(tickets);
        const batch = tree.batch(BigInt(int(1, 1e9)));
        const signature = await signBatch(signer.wallet, domain, batch);
        const args = batch;
        const redeemer = pick(nodes);
        let firstRedeemed: boolean;
        if (rnd() < 0.5) {
          const results = [];
          for (let i = 0; i < tickets.length; i++)
            results.push(
              await attempt('redeem', () =>
                redeemer.core.redeem(args, signature, tickets[i]!, i, tree.proof(i)),
              ),
            );
          for (const r of results) if (r !== undefined) expect(r).toBe('TicketExceedsCommitment');
          firstRedeemed = results[0] === undefined;
        } else {
          const mp = tree.multiProof(tickets.map((_, i) => i));
          const r = await attempt('redeemMany', () =>
            redeemer.core.redeemMany(args, signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
          );
          if (r !== undefined) expect(r).toBe('TicketExceedsCommitment');
          firstRedeemed = r === undefined;
        }
        expect(await admin.core.isRedeemed(batch.root, 0)).toBe(firstRedeemed);
        // Replaying a redeemed ticket is always refused.
        if (firstRedeemed) {
          const again = await attempt('redeem-replay', () =>
            redeemer.core.redeem(args, signature, tickets[0]!, 0, tree.proof(0)),
          );
          expect(again).toBe('TicketAlreadyRedeemed');
        }
      },
    ],
    [
      2,
      async () => {
        const n = pick(nodes);
        const k = rnd();
        if (k < 0.4) await attempt('addStake', () => n.core.addStake(big(1, 20) * EMETH));
        else if (k < 0.7) await attempt('requestUnstake', () => n.core.requestUnstake(big(1, 10) * EMETH));
        else await attempt('unstake', () => n.core.unstake());
      },
    ],
    [
      2,
      async () => {
        const m = commitments.length > 0 ? pick(commitments) : undefined;
        if (!m) return;
        const on = await admin.core.getCommitment(m.requester.address, m.jobId);
        if (rnd() < 0.6) {
          const total = on.spent + (on.amount > on.spent ? BigInt(int(0, 1)) * (on.amount - on.spent) : 0n);
          const name = await attempt('settleCommitment', () =>
            server.core.settleCommitment(m.requester.address, m.jobId, total),
          );
          if (name !== undefined) expect(name).toBe('CommitmentAlreadySettled');
        } else {
          const name = await attempt('reclaimCommitment', () => m.requester.core.reclaimCommitment(m.jobId));
          if (name !== undefined) expect(name).toBe('CommitmentNotExpired');
        }
      },
    ],
    [
      3,
      async () => {
        const k = rnd();
        if (k < 0.5 || locks.length === 0) {
          const n = pick(nodes);
          const lockId = id32(`lock-${locks.length}-${rnd()}`);
          const name = await attempt('lockStake', () =>
            server.core.lockStake(n.address, lockId, big(1, 20) * EMETH),
          );
          if (name === undefined) locks.push({ node: n, id: lockId });
          else expect(name).toBe('InsufficientFreeStake');
        } else {
          const l = pick(locks);
          if (k < 0.75) await attempt('releaseStake', () => server.core.releaseStake(l.id));
          else {
            // A penalty up to the lock is always payable, whatever the node unstaked meanwhile.
            const lock = await admin.core.getStakeLock(l.id);
            const amount = lock.closed ? 0n : lock.amount;
            const name = await attempt('penalize', () => server.core.penalize(l.node.address, amount, l.id));
            if (name !== undefined) expect(name).toBe(lock.closed ? 'PenaltyAlreadyApplied' : 'unexpected');
          }
        }
      },
    ],
    [1, async () => h.increaseTime(int(60, 20_000))],
  ];
  const totalWeight = ops.reduce((a, [w]) => a + w, 0);

  const started = Date.now();
  let opMs = 0;
  let checkMs = 0;
  for (let step = 0; step < OPS; step++) {
    let roll = rnd() * totalWeight;
    const op = ops.find(([w]) => (roll -= w) < 0)![1];
    const t0 = Date.now();
    await op();
    const t1 = Date.now();
    await checkInvariants(step);
    opMs += t1 - t0;
    checkMs += Date.now() - t1;
  }
  // Each requester's committed is exactly what its commitments still hold.
  for (const r of requesters) {
    let held = 0n;
    for (const m of commitments.filter((x) => x.requester === r)) {
      const on = await admin.core.getCommitment(r.address, m.jobId);
      held += on.amount - on.spent;
    }
    expect({ requester: r.name, committed: (await admin.core.getDeposit(r.address)).committed }).toEqual({
      requester: r.name,
      committed: held,
    });
  }
  const elapsed = Date.now() - started;
  process.stderr.write(
    `[property] ${OPS} ops in ${elapsed} ms (ops ${opMs} ms, checks ${checkMs} ms), ${refusals} named refusals; ${JSON.stringify(counts)}\n`,
  );
  // The run must have exercised the whole surface, not just refusals.
  for (const must of [
    'request',
    'process',
    'submit',
    'verify',
    'reject',
    'decline',
    'timeout',
    'cancel',
    'deposit',
    'withdraw',
    'redeem',
    'redeemMany',
    'commit',
    'settleCommitment',
    'reclaimCommitment',
    'lockStake',
    'releaseStake',
    'penalize',
  ]) {
    expect({ must, n: (counts[must] ?? 0) > 0 }).toEqual({ must, n: true });
  }
});
