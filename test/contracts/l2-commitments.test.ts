/**
 * L2 commitments (issue 10 item 5): the L2 commits part of a requester's deposit to a Job with the
 * requester's EIP-712 signature; tickets are paid from it; settlement lowers it to what was
 * ticketed; after its deadline the requester reclaims the rest. Each refusal is a named error.
 */
import { commitFor, expectRevert, id32, mined, startHarness, type Actor, type Harness } from './harness';
import { recoverAddress } from 'ethers';
import { EMETH } from '../../lib/fees';
import { TicketTree, emethDomain, signBatch, type Ticket } from '../../lib/tickets';
import { commitDigest, signCommit, type Commit } from '../../activities/chain/commitments';
import { createEmethCoreClient } from '../../activities/chain';

jest.setTimeout(120_000);

let h: Harness;
let requester: Actor, server: Actor, node: Actor, verifier: Actor, outsider: Actor;
let snap: string;
const DEPOSIT = 10n * EMETH;

beforeAll(async () => {
  h = await startHarness();
  [requester, server, node, verifier, outsider] = ['requester', 'server', 'node', 'verifier', 'outsider'].map(
    (n) => h.actor(n),
  ) as [Actor, Actor, Actor, Actor, Actor];
  await mined(requester.core.deposit(DEPOSIT));
});
afterAll(async () => h?.stop());
beforeEach(async () => {
  snap = await h.snapshot();
});
afterEach(async () => {
  await h.revert(snap);
});

const domain = () => emethDomain(h.deployment.chainId, h.deployment.core);

async function commitOf(jobId: string, amount: bigint, deadlineIn = 86_400n): Promise<Commit> {
  return { requester: requester.address, jobId, amount, deadline: (await h.now()) + deadlineIn };
}

function ticketOf(jobId: string, amount: bigint, sub: string): Ticket {
  return {
    jobId,
    subJobId: id32(sub),
    node: node.address,
    requester: requester.address,
    amount,
    verifier: verifier.address,
    verifierFee: 0n,
  };
}

async function redeemAll(tickets: Ticket[], batchId: bigint) {
  const tree = new TicketTree(tickets);
  const batch = tree.batch(batchId);
  const signature = await signBatch(h.actor('signer').wallet, domain(), batch);
  const mp = tree.multiProof(tickets.map((_, i) => i));
  return node.core.redeemMany(batch, signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags);
}

it("commit needs the requester's signature, the L2 server role and a live deadline", async () => {
  const c = await commitOf(id32('job-a'), EMETH);
  const own = await signCommit(requester.wallet, domain(), c);
  const forged = await signCommit(outsider.wallet, domain(), c);
  await expectRevert(server.core.commit(c, forged), 'InvalidCommitSignature', [
    requester.address,
    outsider.address,
  ]);
  await expectRevert(outsider.core.commit(c, own), 'AccessControlUnauthorizedAccount');
  const stale = await commitOf(id32('job-b'), EMETH, -1n);
  await expectRevert(
    server.core.commit(stale, await signCommit(requester.wallet, domain(), stale)),
    'CommitExpired',
    [stale.jobId, stale.deadline],
  );
  // Another amount than the one signed does not verify.
  await expectRevert(server.core.commit({ ...c, amount: 2n * EMETH }, own), 'InvalidCommitSignature');
  await mined(server.core.commit(c, own));
  const m = await h.admin.core.getCommitment(requester.address, c.jobId);
  expect([m.amount, m.spent, m.deadline, m.settled]).toEqual([EMETH, 0n, c.deadline, false]);
  expect((await h.admin.core.getDeposit(requester.address)).committed).toBe(EMETH);
  expect(await h.admin.core.freeDeposit(requester.address)).toBe(DEPOSIT - EMETH);
  // The digest the contract accepted the signature over is the one commitDigest computes.
  expect(recoverAddress(commitDigest(domain(), c), own)).toBe(requester.address);
});

it('an identical commit is a no-op; another commit for the same Job is refused', async () => {
  const c = await commitFor(h, requester, id32('job-c'), EMETH);
  await mined(server.core.commit(c, c.signature));
  expect((await h.admin.core.getDeposit(requester.address)).committed).toBe(EMETH);
  const more = { ...c, amount: 2n * EMETH };
  await expectRevert(
    server.core.commit(more, await signCommit(requester.wallet, domain(), more)),
    'CommitmentExists',
    [requester.address, c.jobId],
  );
});

it('settlement lowers the commitment to what was ticketed and frees the rest, once', async () => {
  const jobId = id32('job-s');
  await commitFor(h, requester, jobId, 5n * EMETH);
  await mined(redeemAll([ticketOf(jobId, EMETH, 's1')], 1n));
  await expectRevert(
    server.core.settleCommitment(requester.address, jobId, EMETH / 2n),
    'SettlementOutOfRange',
    [jobId, EMETH / 2n, EMETH, 5n * EMETH],
  );
  await expectRevert(
    server.core.settleCommitment(requester.address, jobId, 6n * EMETH),
    'SettlementOutOfRange',
  );
  await expectRevert(
    outsider.core.settleCommitment(requester.address, jobId, 2n * EMETH),
    'AccessControlUnauthorizedAccount',
  );
  // Two tickets were issued (2 EMETH); one is redeemed, the other still owed.
  await mined(server.core.settleCommitment(requester.address, jobId, 2n * EMETH));
  let d = await h.admin.core.getDeposit(requester.address);
  expect([d.balance, d.committed]).toEqual([DEPOSIT - EMETH, EMETH]);
  await mined(server.core.settleCommitment(requester.address, jobId, 2n * EMETH)); // a retry: no-op
  await expectRevert(
    server.core.settleCommitment(requester.address, jobId, EMETH),
    'CommitmentAlreadySettled',
    [requester.address, jobId],
  );
  await mined(redeemAll([ticketOf(jobId, EMETH, 's2')], 2n));
  d = await h.admin.core.getDeposit(requester.address);
  expect([d.balance, d.committed]).toEqual([DEPOSIT - 2n * EMETH, 0n]);
  // Nothing more can be paid for the Job.
  await expectRevert(redeemAll([ticketOf(jobId, 1n, 's3')], 3n), 'TicketExceedsCommitment');
  await expectRevert(server.core.settleCommitment(requester.address, id32('none'), 0n), 'UnknownCommitment', [
    requester.address,
    id32('none'),
  ]);
});

it('after its deadline the requester reclaims what was not redeemed (an absent L2 freezes nothing)', async () => {
  const jobId = id32('job-r');
  const c = await commitFor(h, requester, jobId, 3n * EMETH, (await h.now()) + 600n);
  await mined(redeemAll([ticketOf(jobId, EMETH, 'r1')], 1n));
  await expectRevert(requester.core.reclaimCommitment(jobId), 'CommitmentNotExpired', [jobId, c.deadline]);
  await h.increaseTime(601);
  await expectRevert(outsider.core.reclaimCommitment(jobId), 'UnknownCommitment', [outsider.address, jobId]);
  await mined(requester.core.reclaimCommitment(jobId));
  const d = await h.admin.core.getDeposit(requester.address);
  expect([d.balance, d.committed]).toEqual([DEPOSIT - EMETH, 0n]);
  expect(await h.admin.core.freeDeposit(requester.address)).toBe(DEPOSIT - EMETH);
  await expectRevert(redeemAll([ticketOf(jobId, EMETH, 'r2')], 2n), 'TicketExceedsCommitment');
});

it('the typed client commits, settles and repeats nothing', async () => {
  const client = createEmethCoreClient(h.deployment.core, server.wallet);
  const c = await commitOf(id32('job-client'), 2n * EMETH);
  const sig = await signCommit(requester.wallet, domain(), c);
  expect(await client.commit(c, sig)).toMatch(/^0x/);
  expect(await client.commit(c, sig)).toBeUndefined();
  expect(await client.freeDeposit(requester.address)).toBe(DEPOSIT - 2n * EMETH);
  expect(await client.commitmentOf(requester.address, c.jobId)).toEqual({
    amount: 2n * EMETH,
    spent: 0n,
    deadline: Number(c.deadline),
    settled: false,
  });
  expect(await client.settleCommitment(requester.address, c.jobId, EMETH)).toMatch(/^0x/);
  expect(await client.settleCommitment(requester.address, c.jobId, EMETH)).toBeUndefined();
  await expect(client.settleCommitment(requester.address, c.jobId, 0n)).rejects.toThrow(
    /EmethCore reverted: CommitmentAlreadySettled\(requester=.*\) during settleCommitment/,
  );
  expect(await client.commitmentOf(requester.address, id32('nothing'))).toBeNull();
});
