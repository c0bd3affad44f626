/**
 * L2 penalties: the Execution Layer burns a node's stake for an attempt it declined, let time out
 * or got rejected. Once per attempt, only by the L2 server, never more than the free stake.
 */
import { expectRevert, id32, mined, startHarness, type Actor, type Harness } from './harness';
import { EMETH } from '../../lib/fees';
import { createEmethCoreClient } from '../../activities/chain';

jest.setTimeout(120_000);

let h: Harness;
let node: Actor, server: Actor, outsider: Actor;
const STAKE = 10n * EMETH;

beforeAll(async () => {
  h = await startHarness();
  node = h.actor('node');
  server = h.actor('server');
  outsider = h.actor('outsider');
  await mined(node.core.registerNode(STAKE, id32('node-key'), 1));
});
afterAll(() => h?.stop());

it('burns the penalty from the stake and the supply, once per reason', async () => {
  const supply = await h.admin.token.totalSupply();
  const burned = await h.admin.core.totalBurned();
  const reason = id32('subjob-1:1');
  await mined(server.core.penalize(node.address, EMETH / 4n, reason));
  expect((await h.admin.core.getNode(node.address)).stake).toBe(STAKE - EMETH / 4n);
  expect(await h.admin.token.totalSupply()).toBe(supply - EMETH / 4n);
  expect(await h.admin.core.totalBurned()).toBe(burned + EMETH / 4n);
  expect(await h.admin.core.penaltyApplied(reason)).toBe(true);
  await expectRevert(server.core.penalize(node.address, EMETH / 4n, reason), 'PenaltyAlreadyApplied', [
    reason,
  ]);
  expect((await h.admin.core.getNode(node.address)).stake).toBe(STAKE - EMETH / 4n);
});

it('refuses a caller without the L2 server role', async () => {
  await expectRevert(outsider.core.penalize(node.address, 1n, id32('x')), 'AccessControlUnauthorizedAccount');
});

it('refuses more than the free stake and unknown nodes', async () => {
  const { stake } = await h.admin.core.getNode(node.address);
  await expectRevert(
    server.core.penalize(node.address, stake + 1n, id32('too-much')),
    'InsufficientFreeStake',
    [node.address, stake + 1n, stake],
  );
  await expectRevert(server.core.penalize(outsider.address, 1n, id32('unknown')), 'NodeNotRegistered', [
    outsider.address,
  ]);
});

describe('stake locked per attempt (issue 10 item 6)', () => {
  let snap: string;
  let STAKE: bigint; // what the earlier tests left of the node's stake
  beforeEach(async () => {
    snap = await h.snapshot();
    STAKE = (await h.admin.core.getNode(node.address)).stake;
  });
  afterEach(async () => {
    await h.revert(snap);
  });

  it('a node that requests unstake while an attempt is open still pays its penalty', async () => {
    const attempt = id32('emeth:penalty:sub-9:1');
    const worst = 3n * EMETH;
    await mined(server.core.lockStake(node.address, attempt, worst));
    expect((await h.admin.core.getNode(node.address)).locked).toBe(worst);
    // Unstaking everything is refused; it can take only what the open attempt does not hold.
    await expectRevert(node.core.requestUnstake(STAKE), 'InsufficientFreeStake', [
      node.address,
      STAKE,
      STAKE - worst,
    ]);
    await mined(node.core.requestUnstake(STAKE - worst));
    // The attempt fails: its penalty is paid from the lock.
    const supply = await h.admin.token.totalSupply();
    await mined(server.core.penalize(node.address, worst, attempt));
    const n = await h.admin.core.getNode(node.address);
    expect([n.stake, n.locked, n.unstaking]).toEqual([0n, 0n, STAKE - worst]);
    expect(await h.admin.token.totalSupply()).toBe(supply - worst);
    expect((await h.admin.core.getStakeLock(attempt)).closed).toBe(true);
    // Releasing the attempt afterwards (the L2 closing it) changes nothing.
    await mined(server.core.releaseStake(attempt));
    expect((await h.admin.core.getNode(node.address)).locked).toBe(0n);
  });

  it('without a lock the same node would have escaped: the penalty finds no free stake', async () => {
    await mined(node.core.requestUnstake(STAKE));
    await expectRevert(server.core.penalize(node.address, EMETH, id32('unlocked')), 'InsufficientFreeStake', [
      node.address,
      EMETH,
      0n,
    ]);
  });

  it('lock and release are idempotent, bounded by the free stake, and only for the L2 server', async () => {
    const a = id32('attempt-a');
    await expectRevert(outsider.core.lockStake(node.address, a, 1n), 'AccessControlUnauthorizedAccount');
    await expectRevert(server.core.lockStake(node.address, a, STAKE + 1n), 'InsufficientFreeStake', [
      node.address,
      STAKE + 1n,
      STAKE,
    ]);
    await expectRevert(server.core.lockStake(outsider.address, a, 1n), 'NodeNotRegistered', [
      outsider.address,
    ]);
    await mined(server.core.lockStake(node.address, a, EMETH));
    await mined(server.core.lockStake(node.address, a, EMETH)); // a retry: no second lock
    expect((await h.admin.core.getNode(node.address)).locked).toBe(EMETH);
    await expectRevert(server.core.lockStake(node.address, a, 2n * EMETH), 'StakeLockExists', [a]);
    await mined(server.core.releaseStake(a));
    await mined(server.core.releaseStake(a));
    expect((await h.admin.core.getNode(node.address)).locked).toBe(0n);
    await expectRevert(server.core.lockStake(node.address, a, EMETH), 'StakeLockExists', [a]);
    await expectRevert(server.core.releaseStake(id32('never')), 'UnknownStakeLock', [id32('never')]);
    await expectRevert(outsider.core.releaseStake(a), 'AccessControlUnauthorizedAccount');
  });

  it("the typed client locks, counts the attempt's own lock as payable, and releases", async () => {
    const client = createEmethCoreClient(h.deployment.core, server.wallet);
    const attempt = 'emeth:penalty:sub-7:2';
    expect(await client.lockStake(node.address, attempt, 4n * EMETH)).toMatch(/^0x/);
    expect(await client.lockStake(node.address, attempt, 4n * EMETH)).toBeUndefined();
    expect(await client.stakeOf(node.address)).toBe(STAKE - 4n * EMETH);
    expect(await client.stakeOf(node.address, attempt)).toBe(STAKE);
    expect(await client.stakeLockOf(attempt)).toEqual({
      node: node.address,
      amount: 4n * EMETH,
      closed: false,
    });
    expect(await client.penalize(node.address, EMETH, attempt)).toMatch(/^0x/);
    expect(await client.penalize(node.address, EMETH, attempt)).toBeUndefined();
    // The penalty closed the lock: the rest of it is free again.
    expect(await client.stakeOf(node.address)).toBe(STAKE - EMETH);
    expect(await client.releaseStake(attempt)).toBeUndefined();
    expect(await client.releaseStake('emeth:penalty:never-opened')).toBeUndefined();
  });
});

describe('fines pay the prover (issue 12 item 2)', () => {
  let snap: string;
  let prover: Actor;
  beforeAll(async () => {
    prover = h.actor('verifier');
    await mined(prover.core.registerNode(STAKE, id32('prover-key'), 0));
  });
  beforeEach(async () => {
    snap = await h.snapshot();
  });
  afterEach(() => h.revert(snap));

  it("adds proverShare (50%) of the fine to the prover's stake and burns the rest, once per reason", async () => {
    const before = (await h.admin.core.getNode(node.address)).stake;
    const proverBefore = (await h.admin.core.getNode(prover.address)).stake;
    const supply = await h.admin.token.totalSupply();
    const burned = await h.admin.core.totalBurned();
    const fine = 3n * EMETH + 1n; // odd: the rounding goes to the burn, never to the prover
    const reason = id32('emeth:penalty:sub-9:1');
    expect(await h.admin.core.proverShare()).toBe(5_000n);
    await mined(server.core.fine(node.address, fine, reason, prover.address));
    const reward = fine / 2n;
    expect((await h.admin.core.getNode(node.address)).stake).toBe(before - fine);
    expect((await h.admin.core.getNode(prover.address)).stake).toBe(proverBefore + reward);
    expect(await h.admin.token.totalSupply()).toBe(supply - (fine - reward));
    expect(await h.admin.core.totalBurned()).toBe(burned + (fine - reward));
    await expectRevert(server.core.fine(node.address, fine, reason, prover.address), 'PenaltyAlreadyApplied', [
      reason,
    ]);
    // A penalty under the same reason is the same one: it cannot be burned again either.
    await expectRevert(server.core.penalize(node.address, 1n, reason), 'PenaltyAlreadyApplied', [reason]);
  });

  it('refuses a liar proving itself, an unregistered prover and a caller without the L2 server role', async () => {
    await expectRevert(
      server.core.fine(node.address, EMETH, id32('self'), node.address),
      'InvalidProver',
      [node.address],
    );
    await expectRevert(
      server.core.fine(node.address, EMETH, id32('nobody'), outsider.address),
      'NodeNotRegistered',
      [outsider.address],
    );
    await expectRevert(
      outsider.core.fine(node.address, EMETH, id32('outsider'), prover.address),
      'AccessControlUnauthorizedAccount',
    );
  });

  it('proverShare is a governance rate (0 burns every fine, 100% pays it all)', async () => {
    const { ChainParameter } = await import('../../lib/types-chain');
    await expectRevert(
      outsider.core.setParameter(ChainParameter.ProverShare, 0),
      'AccessControlUnauthorizedAccount',
    );
    await expectRevert(h.admin.core.setParameter(ChainParameter.ProverShare, 10_001), 'InvalidParameter');
    await mined(h.admin.core.setParameter(ChainParameter.ProverShare, 10_000));
    const proverBefore = (await h.admin.core.getNode(prover.address)).stake;
    const client = createEmethCoreClient(h.deployment.core, server.wallet);
    expect(await client.fine(node.address, EMETH, 'emeth:penalty:sub-10:1', prover.address)).toMatch(/^0x/);
    expect(await client.fine(node.address, EMETH, 'emeth:penalty:sub-10:1', prover.address)).toBeUndefined();
    expect((await h.admin.core.getNode(prover.address)).stake).toBe(proverBefore + EMETH);
  });
});
