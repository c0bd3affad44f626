/**
 * L2 penalties: the Execution Layer burns a node's stake for an attempt it declined, let time out
 * or got rejected. Once per attempt, only by a verifier, never more than the free stake.
 */
import { expectRevert, id32, mined, startHarness, type Actor, type Harness } from './harness';
import { EMETH } from '../../lib/fees';

jest.setTimeout(120_000);

let h: Harness;
let node: Actor, verifier: Actor, outsider: Actor;
const STAKE = 10n * EMETH;

beforeAll(async () => {
  h = await startHarness();
  node = h.actor('node');
  verifier = h.actor('verifier');
  outsider = h.actor('outsider');
  await mined(node.core.registerNode(STAKE, id32('node-key'), 1));
});
afterAll(() => h?.stop());

it('burns the penalty from the stake and the supply, once per reason', async () => {
  const supply = await h.admin.token.totalSupply();
  const burned = await h.admin.core.totalBurned();
  const reason = id32('subjob-1:1');
  await mined(verifier.core.penalize(node.address, EMETH / 4n, reason));
  expect((await h.admin.core.getNode(node.address)).stake).toBe(STAKE - EMETH / 4n);
  expect(await h.admin.token.totalSupply()).toBe(supply - EMETH / 4n);
  expect(await h.admin.core.totalBurned()).toBe(burned + EMETH / 4n);
  expect(await h.admin.core.penaltyApplied(reason)).toBe(true);
  await expectRevert(verifier.core.penalize(node.address, EMETH / 4n, reason), 'PenaltyAlreadyApplied', [
    reason,
  ]);
  expect((await h.admin.core.getNode(node.address)).stake).toBe(STAKE - EMETH / 4n);
});

it('refuses a caller without the verifier role', async () => {
  await expectRevert(outsider.core.penalize(node.address, 1n, id32('x')), 'AccessControlUnauthorizedAccount');
});

it('refuses more than the free stake and unknown nodes', async () => {
  const { stake } = await h.admin.core.getNode(node.address);
  await expectRevert(
    verifier.core.penalize(node.address, stake + 1n, id32('too-much')),
    'InsufficientFreeStake',
    [node.address, stake + 1n, stake],
  );
  await expectRevert(verifier.core.penalize(outsider.address, 1n, id32('unknown')), 'NodeNotRegistered', [
    outsider.address,
  ]);
});
