/**
 * GPU Mining Program (issue 13 item 2, paper §3-4): EmethMining shares each epoch's pool among
 * nodes pro rata to the verified fuel the L2 posted for them in a Merkle root of (node, epoch, fuel).
 * Most suites deploy their own EmethMining (short epochs, a small "year") next to the harness's
 * token and EmethCore; the last one checks what contracts/deploy.ts deploys.
 */
import { Interface, MaxUint256, type BigNumberish } from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import fc from 'fast-check';
import {
  expectRevert as expectCoreRevert,
  id32,
  mined,
  startHarness,
  type Actor,
  type Harness,
} from './harness';
import { revertData } from '../../contracts/errors';
import { EmethMining__factory, type EmethMining } from '../../contracts/types';
import { EMETH } from '../../lib/fees';
import { deployContracts } from '../../contracts/deploy';

jest.setTimeout(300_000);

const EPOCH = 60n; // seconds per epoch in the tests (an hour in production)
const INITIAL = 12_000n * EMETH; // the paper's hourly pool
const STEP = 600n * EMETH; // the paper's yearly decrement
const STEP_EPOCHS = 3n; // a "year" of 3 epochs here (8,760 in production)
const MIN_STAKE = 5n * EMETH;
const WINDOW = 4n; // claim window, in epochs
const NODE_STAKE = 10n * EMETH;

const miningErrors = new Interface(EmethMining__factory.abi);

/** Asserts that `tx` reverts with EmethMining's custom error `name` (and, optionally, these args). */
async function expectRevert(tx: Promise<unknown>, name: string, args?: unknown[]): Promise<void> {
  let error: unknown;
  try {
    await tx;
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected a revert with ${name}, but the call succeeded`);
  const data = revertData(error);
  const parsed = data ? miningErrors.parseError(data) : null;
  if (!parsed) throw new Error(`expected ${name}, got an undecodable error: ${(error as Error).message}`);
  expect(parsed.name).toBe(name);
  if (args) expect([...parsed.args]).toEqual(args);
}

type Leaf = [string, bigint, bigint]; // (node, epoch, fuel)

/** The L2's side: the standard tree over (node, epoch, fuel) and its total fuel. */
function epochTree(epoch: bigint, shares: [Actor | string, bigint][]) {
  const leaves: Leaf[] = shares.map(([who, fuel]) => [
    typeof who === 'string' ? who : who.address,
    epoch,
    fuel,
  ]);
  const tree = StandardMerkleTree.of(leaves, ['address', 'uint256', 'uint256']);
  const totalFuel = leaves.reduce((s, l) => s + l[2], 0n);
  const proof = (address: string): string[] => {
    for (const [i, v] of tree.entries()) if (v[0] === address) return tree.getProof(i);
    throw new Error(`no leaf for ${address}`);
  };
  return { tree, root: tree.root, totalFuel, proof };
}

let h: Harness;
let admin: Actor, poster: Actor, node: Actor, node2: Actor, node3: Actor, weak: Actor, outsider: Actor;
let mining: EmethMining;

/** Deploys an EmethMining for the harness's token and core; `server` posts epochs. */
async function deployMining(
  opts: {
    epochLength?: BigNumberish;
    stepEpochs?: BigNumberish;
    rewardStep?: BigNumberish;
    genesis?: BigNumberish;
    fund?: bigint;
  } = {},
): Promise<EmethMining> {
  const factory = new EmethMining__factory(admin.signer);
  const contract = await factory.deploy(
    h.deployment.token,
    h.deployment.core,
    admin.address,
    opts.epochLength ?? EPOCH,
    opts.genesis ?? (await h.now()),
    INITIAL,
    opts.rewardStep ?? STEP,
    opts.stepEpochs ?? STEP_EPOCHS,
    MIN_STAKE,
    WINDOW,
  );
  await contract.waitForDeployment();
  const m = EmethMining__factory.connect(await contract.getAddress(), admin.signer);
  await mined(m.grantRole(await m.EPOCH_POSTER_ROLE(), poster.address));
  if (opts.fund) {
    await mined(admin.token.approve(await m.getAddress(), MaxUint256));
    await mined(m.fund(opts.fund));
  }
  return m;
}

const as = (m: EmethMining, a: Actor): EmethMining => m.connect(a.signer);

/** Moves the chain's clock to `t` (no-op when it is already there). */
async function advanceTo(t: bigint): Promise<void> {
  const now = await h.now();
  if (t > now) await h.increaseTime(t - now);
}

/** Lets the epoch in progress end and returns its number. */
async function finishEpoch(m: EmethMining = mining): Promise<bigint> {
  const e = await m.currentEpoch();
  await advanceTo(await m.epochEnd(e));
  return e;
}

/** Posts `epoch` with these shares (by the poster) and returns the tree. */
async function post(epoch: bigint, shares: [Actor | string, bigint][], m: EmethMining = mining) {
  const t = epochTree(epoch, shares);
  await mined(as(m, poster).postEpoch(epoch, t.root, t.totalFuel));
  return t;
}

async function claim(
  m: EmethMining,
  who: Actor,
  epoch: bigint,
  fuel: bigint,
  proof: string[],
): Promise<void> {
  await mined(as(m, who).claim(epoch, who.address, fuel, proof));
}

beforeAll(async () => {
  h = await startHarness({ fund: 3_000_000n * EMETH });
  admin = h.admin;
  poster = h.actor('server');
  node = h.actor('node');
  node2 = h.actor('node2');
  node3 = h.actor('node3');
  weak = h.actor('requester2'); // registered, but below the mining minimum
  outsider = h.actor('outsider'); // never registered
  for (const [a, i] of [
    [node, 1],
    [node2, 2],
    [node3, 3],
    [h.actor('verifier'), 4],
    [h.actor('signer'), 5],
    [h.actor('requester'), 6],
  ] as const)
    await mined(a.core.registerNode(NODE_STAKE, id32(`mining-node-${i}`), 1));
  await mined(weak.core.registerNode(MIN_STAKE - 1n, id32('mining-weak'), 1));
  mining = await deployMining({ fund: 200_000n * EMETH });
});
afterAll(() => h?.stop());

describe('pro rata shares', () => {
  it("pays the paper's example exactly: 100/70/30 units of a 12,000 EMETH hour → 6,000/4,200/1,800", async () => {
    const e = await finishEpoch();
    expect(e).toBe(0n);
    const t = await post(e, [
      [node, 100n],
      [node2, 70n],
      [node3, 30n],
    ]);
    expect((await mining.getEpoch(e)).pool).toBe(INITIAL);
    const before = await Promise.all([node, node2, node3].map((a) => h.balance(a.address)));
    for (const [a, fuel] of [
      [node, 100n],
      [node2, 70n],
      [node3, 30n],
    ] as const)
      await claim(mining, a, e, fuel, t.proof(a.address));
    const after = await Promise.all([node, node2, node3].map((a) => h.balance(a.address)));
    expect(after.map((b, i) => b - before[i]!)).toEqual([6_000n * EMETH, 4_200n * EMETH, 1_800n * EMETH]);
    expect((await mining.getEpoch(e)).claimed).toBe(INITIAL);
    expect(await mining.outstanding()).toBe(0n);
  });

  it('rounds every share down to the holon; the dust stays in the epoch', async () => {
    const e = await finishEpoch();
    const fuels = [7n, 11n, 13n];
    const t = await post(e, [
      [node, fuels[0]!],
      [node2, fuels[1]!],
      [node3, fuels[2]!],
    ]);
    const pool = (await mining.getEpoch(e)).pool;
    let paid = 0n;
    for (const [i, a] of [node, node2, node3].entries()) {
      const before = await h.balance(a.address);
      await claim(mining, a, e, fuels[i]!, t.proof(a.address));
      const got = (await h.balance(a.address)) - before;
      expect(got).toBe((pool * fuels[i]!) / 31n);
      paid += got;
    }
    const dust = pool - paid;
    expect(dust).toBeGreaterThan(0n); // 12,000e18 is not a multiple of 31
    expect(dust).toBeLessThan(3n);
    expect((await mining.getEpoch(e)).claimed).toBe(paid);
    expect(await mining.outstanding()).toBe(dust);
  });
});

describe('decay schedule', () => {
  it('falls by 600 EMETH every step of stepEpochs and reaches zero after 20 steps', async () => {
    for (let k = 0n; k < 66n; k++) {
      const steps = k / STEP_EPOCHS;
      const want = steps >= 20n ? 0n : INITIAL - STEP * steps;
      expect(await mining.scheduledReward(k)).toBe(want);
    }
    expect(await mining.scheduledReward(10n ** 30n)).toBe(0n);
  });

  it('the production schedule: 12,000 an hour the first year, 11,400 the second, 600 the 20th, then 0', async () => {
    const prod = await deployMining({ epochLength: 3_600, stepEpochs: 8_760 });
    expect(await prod.scheduledReward(0)).toBe(12_000n * EMETH);
    expect(await prod.scheduledReward(8_759)).toBe(12_000n * EMETH);
    expect(await prod.scheduledReward(8_760)).toBe(11_400n * EMETH);
    expect(await prod.scheduledReward(19n * 8_760n)).toBe(600n * EMETH);
    expect(await prod.scheduledReward(20n * 8_760n - 1n)).toBe(600n * EMETH);
    expect(await prod.scheduledReward(20n * 8_760n)).toBe(0n);
  });

  it('a posted epoch k gets its step’s pool: epoch 3 pays 11,400 and epoch 6 10,800 against 12,000 for epoch 0', async () => {
    for (const [k, want] of [
      [3n, 11_400n],
      [6n, 10_800n],
    ] as const) {
      await advanceTo(await mining.epochEnd(k));
      const t = await post(k, [
        [node, 1n],
        [node2, 1n],
      ]);
      expect((await mining.getEpoch(k)).pool).toBe(want * EMETH);
      const before = await h.balance(node.address);
      await claim(mining, node, k, 1n, t.proof(node.address));
      expect((await h.balance(node.address)) - before).toBe((want * EMETH) / 2n);
    }
    expect((await mining.getEpoch(0n)).pool).toBe(12_000n * EMETH);
  });

  it('a pool is capped by what is funded and unallocated; an epoch without fuel allocates nothing', async () => {
    const small = await deployMining({ fund: 5_000n * EMETH });
    const e0 = await finishEpoch(small);
    await mined(as(small, poster).postEpoch(e0, '0x' + '00'.repeat(32), 0n));
    expect((await small.getEpoch(e0)).pool).toBe(0n);
    expect(await small.unallocated()).toBe(5_000n * EMETH);
    const e1 = await finishEpoch(small);
    const t = await post(e1, [[node, 3n]], small);
    expect((await small.getEpoch(e1)).pool).toBe(5_000n * EMETH);
    expect(await small.unallocated()).toBe(0n);
    await claim(small, node, e1, 3n, t.proof(node.address));
    const e2 = await finishEpoch(small);
    await post(e2, [[node, 3n]], small);
    expect((await small.getEpoch(e2)).pool).toBe(0n);
    // A root without fuel, or fuel without a root, is refused.
    const e3 = await finishEpoch(small);
    await expectRevert(as(small, poster).postEpoch(e3, t.root, 0n), 'InvalidRoot', [e3, t.root, 0n]);
  });
});

describe('refusals', () => {
  let e: bigint;
  let t: ReturnType<typeof epochTree>;
  beforeAll(async () => {
    e = await finishEpoch();
    t = await post(e, [
      [node, 50n],
      [node2, 50n],
      [weak, 50n],
      [outsider, 50n],
    ]);
  });

  it('a second claim for the same epoch and node', async () => {
    await claim(mining, node, e, 50n, t.proof(node.address));
    expect(await mining.hasClaimed(e, node.address)).toBe(true);
    await expectRevert(
      as(mining, node).claim(e, node.address, 50n, t.proof(node.address)),
      'AlreadyClaimed',
      [e, node.address],
    );
    await expectRevert(as(mining, node).claimMany([e], [50n], [t.proof(node.address)]), 'AlreadyClaimed', [
      e,
      node.address,
    ]);
  });

  it('a claim for another node, even with its valid proof', async () => {
    await expectRevert(as(mining, node3).claim(e, node2.address, 50n, t.proof(node2.address)), 'NotNode', [
      node3.address,
      node2.address,
    ]);
    expect(await mining.hasClaimed(e, node2.address)).toBe(false);
  });

  it('a wrong fuel, and a proof replayed in another epoch', async () => {
    await expectRevert(
      as(mining, node2).claim(e, node2.address, 51n, t.proof(node2.address)),
      'InvalidProof',
      [e, node2.address, 51n],
    );
    // Epoch 0's leaf for node3 (fuel 30) proves nothing in epoch e.
    const old = epochTree(0n, [
      [node, 100n],
      [node2, 70n],
      [node3, 30n],
    ]);
    await expectRevert(
      as(mining, node3).claim(e, node3.address, 30n, old.proof(node3.address)),
      'InvalidProof',
      [e, node3.address, 30n],
    );
  });

  it('a node below the stake minimum, and an unregistered one', async () => {
    await expectRevert(
      as(mining, weak).claim(e, weak.address, 50n, t.proof(weak.address)),
      'MiningStakeTooLow',
      [weak.address, MIN_STAKE - 1n, MIN_STAKE],
    );
    await expectRevert(
      as(mining, outsider).claim(e, outsider.address, 50n, t.proof(outsider.address)),
      'NodeNotRegistered',
      [outsider.address],
    );
    // Topping the stake up to the minimum makes the same claim pass (the rule is checked at claim time).
    await mined(weak.core.addStake(1n));
    const before = await h.balance(weak.address);
    await claim(mining, weak, e, 50n, t.proof(weak.address));
    expect((await h.balance(weak.address)) - before).toBe(await mining.rewardOf(e, 50n));
  });

  it('a root for an epoch not yet ended, a root posted twice, and a poster without the role', async () => {
    const current = await mining.currentEpoch();
    const end = await mining.epochEnd(current);
    await expectRevert(as(mining, poster).postEpoch(current, t.root, 1n), 'EpochNotEnded', [current, end]);
    await expectRevert(as(mining, poster).postEpoch(current + 5n, t.root, 1n), 'EpochNotEnded');
    await expectRevert(as(mining, poster).postEpoch(e, t.root, t.totalFuel), 'EpochAlreadyPosted', [e]);
    await expectCoreRevert(
      as(mining, outsider).postEpoch(0n, t.root, 1n),
      'AccessControlUnauthorizedAccount',
    );
  });

  it('a claim for an epoch never posted', async () => {
    const later = (await mining.currentEpoch()) + 100n;
    await expectRevert(as(mining, node).claim(later, node.address, 1n, []), 'EpochNotPosted', [later]);
  });
});

describe('unclaimed rewards', () => {
  it('after the claim window a sweep returns what was not claimed to the unallocated pool, once', async () => {
    const e = await finishEpoch();
    const t = await post(e, [
      [node, 2n],
      [node2, 1n],
    ]);
    const { pool, claimDeadline } = await mining.getEpoch(e);
    expect(claimDeadline).toBe((await h.now()) + WINDOW * EPOCH);
    await claim(mining, node, e, 2n, t.proof(node.address));
    const paid = (pool * 2n) / 3n;
    await expectRevert(mining.sweep(e), 'ClaimWindowOpen', [e, claimDeadline]);

    await advanceTo(claimDeadline);
    await expectRevert(
      as(mining, node2).claim(e, node2.address, 1n, t.proof(node2.address)),
      'ClaimWindowClosed',
      [e, claimDeadline],
    );
    const unallocated = await mining.unallocated();
    const outstanding = await mining.outstanding();
    // Anyone may sweep.
    await mined(as(mining, outsider).sweep(e));
    expect(await mining.unallocated()).toBe(unallocated + (pool - paid));
    expect(await mining.outstanding()).toBe(outstanding - (pool - paid));
    expect((await mining.getEpoch(e)).swept).toBe(true);
    await expectRevert(mining.sweep(e), 'AlreadySwept', [e]);
    await expectRevert(mining.sweep(10n ** 9n), 'EpochNotPosted', [10n ** 9n]);
  });
});

it('claimMany pays several epochs in one transfer', async () => {
  const e1 = await finishEpoch();
  const t1 = await post(e1, [
    [node3, 1n],
    [node2, 3n],
  ]);
  const e2 = await finishEpoch();
  const t2 = await post(e2, [[node3, 5n]]);
  const want = (await mining.rewardOf(e1, 1n)) + (await mining.rewardOf(e2, 5n));
  const before = await h.balance(node3.address);
  await mined(
    as(mining, node3).claimMany([e1, e2], [1n, 5n], [t1.proof(node3.address), t2.proof(node3.address)]),
  );
  expect((await h.balance(node3.address)) - before).toBe(want);
  await expectRevert(as(mining, node3).claimMany([e1], [], []), 'LengthMismatch');
});

describe('property', () => {
  it('the claims of an epoch never sum to more than its pool, whatever the fuels, funding or posted total', async () => {
    // Its own contract: a flat schedule (no decay to zero over 50 epochs), funded a random amount
    // before each epoch so the funding cap binds in some runs and not in others.
    const m = await deployMining({ rewardStep: 0, fund: 1n });
    const miners = ['node', 'node2', 'node3', 'verifier', 'signer', 'requester'].map((n) => h.actor(n));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 24n }), { minLength: 1, maxLength: miners.length }),
        fc.bigInt({ min: 0n, max: 15_000n * EMETH }),
        fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 10n ** 24n })), // understated total (a lying poster)
        async (drawn, funding, understate) => {
          const fuels = [drawn[0]! + 1n, ...drawn.slice(1)]; // at least one unit of fuel
          if (funding > 0n) {
            await mined(admin.token.mint(admin.address, funding));
            await mined(m.fund(funding));
          }
          const e = await finishEpoch(m);
          const shares = fuels.map((f, i) => [miners[i]!, f] as [Actor, bigint]);
          const t = epochTree(e, shares);
          const total = t.totalFuel - understate > 0n ? t.totalFuel - understate : 1n;
          const unallocated = await m.unallocated();
          await mined(as(m, poster).postEpoch(e, t.root, total));
          const { pool } = await m.getEpoch(e);
          expect(pool).toBe(INITIAL < unallocated ? INITIAL : unallocated);
          // One claim after the other: parallel claims could pass gas estimation and then
          // revert on chain without revert data when another one took the pool first.
          const results: PromiseSettledResult<bigint>[] = [];
          for (const [a, f] of shares) {
            const before = await h.balance(a.address);
            try {
              await claim(m, a, e, f, t.proof(a.address));
              results.push({ status: 'fulfilled', value: (await h.balance(a.address)) - before });
            } catch (reason) {
              results.push({ status: 'rejected', reason });
            }
          }
          const paid = results.reduce((s, r) => s + (r.status === 'fulfilled' ? r.value : 0n), 0n);
          expect(paid).toBeLessThanOrEqual(pool);
          expect((await m.getEpoch(e)).claimed).toBe(paid);
          if (total === t.totalFuel) {
            // An honest total: every claim passes and at most one holon per leaf is left over.
            expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
            expect(pool - paid).toBeLessThan(BigInt(shares.length));
          }
          for (const r of results)
            if (r.status === 'rejected') await expectRevert(Promise.reject(r.reason), 'PoolExceeded');
        },
      ),
      { numRuns: 50, seed: 13, endOnFailure: true },
    );
  });
});

describe('contracts/deploy.ts', () => {
  it('deploys EmethMining with the paper schedule, hourly epochs on the hour, the L2 servers as posters', async () => {
    const m = EmethMining__factory.connect(h.deployment.mining!, h.provider);
    expect(await m.epochLength()).toBe(3_600n);
    expect((await m.genesis()) % 3_600n).toBe(0n);
    expect(await m.initialReward()).toBe(12_000n * EMETH);
    expect(await m.rewardStep()).toBe(600n * EMETH);
    expect(await m.stepEpochs()).toBe(8_760n);
    expect(await m.claimWindow()).toBe(720n); // 30 days of hours
    expect(await m.token()).toBe(h.deployment.token);
    expect(await m.core()).toBe(h.deployment.core);
    expect(await m.hasRole(await m.EPOCH_POSTER_ROLE(), poster.address)).toBe(true);
    expect(await m.hasRole(await m.EPOCH_POSTER_ROLE(), outsider.address)).toBe(false);
  });

  it('with miningEpochSeconds and miningFund: that epoch length, and the pool funded from a mint', async () => {
    const d = await deployContracts(admin.signer, {
      l2Servers: [poster.address],
      miningEpochSeconds: 30,
      miningFund: 50_000n * EMETH,
      registerDemoPrograms: false,
    });
    const m = EmethMining__factory.connect(d.mining!, h.provider);
    expect(await m.epochLength()).toBe(30n);
    expect((await m.genesis()) % 30n).toBe(0n);
    expect(await m.claimWindow()).toBe(86_400n); // still 30 days, in 30-s epochs
    expect(await m.unallocated()).toBe(50_000n * EMETH);
    expect(await m.hasRole(await m.EPOCH_POSTER_ROLE(), poster.address)).toBe(true);
    const none = await deployContracts(admin.signer, { mining: false, registerDemoPrograms: false });
    expect(none.mining).toBeUndefined();
  });
});
