/**
 * The EMETH Cache follower against a real anvil and a real migrated database: the mirror equals
 * the contract's state, a restart resumes at the cursor, a re-read stores nothing twice, and only
 * confirmed blocks are read.
 */
import { createChainCache } from '../../activities/chain-cache';
import { EMETH, GHOLON } from '../../lib/fees';
import { TicketTree, emethDomain, signBatch, type Ticket } from '../../lib/tickets';
import { SubJobStatus } from '../../lib/types-chain';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { commitFor, id32, mined, startHarness, type Actor, type Harness } from './harness';

jest.setTimeout(120_000);

let h: Harness;
let db: TestDatabase;
let requester: Actor, node: Actor, node2: Actor, verifier: Actor, server: Actor, signer: Actor;

const STATUS = ['None', 'Open', 'Processing', 'Submitted', 'Verified', 'Failed'];

beforeAll(async () => {
  [h, db] = await Promise.all([startHarness(), createTestDatabase()]);
  [requester, node, node2, verifier, server, signer] = [
    'requester',
    'node',
    'node2',
    'verifier',
    'server',
    'signer',
  ].map((n) => h.actor(n)) as unknown as [Actor, Actor, Actor, Actor, Actor, Actor];
});
afterAll(async () => {
  await db?.drop();
  await h?.stop();
});

const cache = (opts: { confirmations?: number; blockRange?: number } = {}) =>
  createChainCache({
    prisma: db.prisma,
    provider: h.provider,
    deployment: h.deployment,
    confirmations: 0,
    blockRange: 4,
    ...opts,
  });

async function activity(): Promise<{ jobs: string[] }> {
  const deadline = (await h.now()) + 86_400n;
  await mined(node.core.registerNode(100n * EMETH, id32('k1'), 3080));
  await mined(node2.core.registerNode(100n * EMETH, id32('k2'), 4090));
  // Job A: two shards; one verified, one declined then verified by node2.
  const a = id32('cache-a');
  await mined(requester.core.request(a, 1, 120_000n, 120n * GHOLON, deadline, id32('data-a')));
  await mined(server.core.registerSubJobs(a, [1n, 3n]));
  await mined(node.core.process(a, 0));
  await mined(node.core.process(a, 1));
  await mined(node.core.submit(a, 0, id32('r0'), 10_000n));
  await mined(node.core.decline(a, 1));
  await mined(node2.core.process(a, 1));
  await mined(node2.core.submit(a, 1, id32('r1'), 50_000n));
  await mined(verifier.core.verify(a, 0));
  await mined(verifier.core.verify(a, 1));
  // Job B: cancelled. Job C: left Processing.
  const b = id32('cache-b');
  await mined(requester.core.request(b, 2, 1_000n, GHOLON, deadline, id32('data-b')));
  await mined(requester.core.cancel(b));
  const c = id32('cache-c');
  await mined(requester.core.request(c, 3, 1_000n, GHOLON, deadline, id32('data-c')));
  await mined(server.core.registerSubJobs(c, [1n]));
  await mined(node2.core.process(c, 0));
  // L2: deposit, a commitment for the Job's two tickets, a withdrawal request of the rest, two
  // tickets redeemed (committed money cannot be withdrawn, so the request is of what is free).
  await mined(requester.core.deposit(10n * EMETH));
  await commitFor(h, requester, id32('l2'), 2n * (EMETH + EMETH / 10n), undefined, server);
  await mined(requester.core.requestWithdrawal(7n * EMETH));
  const tickets: Ticket[] = [0, 1].map((i) => ({
    jobId: id32('l2'),
    subJobId: id32(`l2-${i}`),
    node: node.address,
    requester: requester.address,
    amount: EMETH,
    verifier: verifier.address,
    verifierFee: EMETH / 10n,
  }));
  const tree = new TicketTree(tickets);
  const batch = tree.batch(1n);
  const sig = await signBatch(signer.wallet, emethDomain(h.deployment.chainId, h.deployment.core), batch);
  const mp = tree.multiProof([0, 1]);
  await mined(node.core.redeemMany(batch, sig, mp.tickets, mp.indices, mp.proof, mp.proofFlags));
  await mined(node2.core.requestUnstake(10n * EMETH));
  return { jobs: [a, b, c] };
}

async function expectMirrorMatchesChain(jobs: string[]): Promise<void> {
  const core = h.admin.core;
  for (const jobId of jobs) {
    const j = await core.getJob(jobId);
    const row = await db.prisma.chainJob.findUniqueOrThrow({ where: { jobId } });
    expect([row.status, row.subJobCount, row.verifiedCount, row.failedCount, row.requester]).toEqual([
      ['None', 'Requested', 'Split', 'Finished', 'Cancelled'][Number(j.status)],
      Number(j.subJobCount),
      Number(j.verifiedCount),
      Number(j.failedCount),
      j.requester.toLowerCase(),
    ]);
    for (let i = 0; i < Number(j.subJobCount); i++) {
      const s = await core.getSubJob(jobId, i);
      const r = await db.prisma.chainSubJob.findUniqueOrThrow({ where: { id: `${jobId}:${i}` } });
      expect([r.status, r.retries, r.fuelLimit.toFixed(), r.verifierFee.toFixed()]).toEqual([
        STATUS[Number(s.status)],
        Number(s.retries),
        s.fuelLimit.toString(),
        s.verifierFee.toString(),
      ]);
      if (Number(s.status) === SubJobStatus.Processing) expect(r.node).toBe(s.node.toLowerCase());
    }
  }
  for (const n of [node, node2]) {
    const onChain = await core.getNode(n.address);
    const row = await db.prisma.chainNode.findUniqueOrThrow({ where: { address: n.address.toLowerCase() } });
    expect([row.stake.toFixed(), row.locked.toFixed(), row.unstaking.toFixed()]).toEqual([
      onChain.stake.toString(),
      onChain.locked.toString(),
      onChain.unstaking.toString(),
    ]);
  }
  const d = await core.getDeposit(requester.address);
  const row = await db.prisma.chainDeposit.findUniqueOrThrow({
    where: { requester: requester.address.toLowerCase() },
  });
  expect([row.balance.toFixed(), row.pendingWithdrawal.toFixed()]).toEqual([
    d.balance.toString(),
    d.pendingWithdrawal.toString(),
  ]);
}

it('mirrors EmethCore, resumes after a restart, stores nothing twice, reads only confirmed blocks', async () => {
  const { jobs } = await activity();
  const head = await h.provider.getBlockNumber();

  // Confirmations: 3 deep means the last 3 blocks wait.
  const cautious = cache({ confirmations: 3 });
  const partial = await cautious.syncOnce();
  expect(partial.fromBlock).toBe(h.deployment.blockNumber);
  expect(partial.toBlock).toBe(head - 3);

  // A "restarted" follower (new instance, same database) continues at the cursor.
  const follower = cache();
  const rest = await follower.syncOnce();
  expect(rest.fromBlock).toBe(head - 2);
  expect(rest.toBlock).toBe(head);
  expect(partial.events + rest.events).toBe(await db.prisma.chainEvent.count());
  await expectMirrorMatchesChain(jobs);
  expect(await db.prisma.chainTicketRedemption.count()).toBe(2);
  const penalties = await db.prisma.chainNode.findUniqueOrThrow({
    where: { address: node.address.toLowerCase() },
  });
  expect(penalties.penalties.toFixed()).toBe((await h.admin.core.totalBurned()).toString());

  // Nothing new: an empty range.
  expect(await follower.syncOnce()).toEqual({ fromBlock: head + 1, toBlock: head, events: 0 });

  // Cursor moved back to the start: the whole history is re-read and nothing is applied twice.
  const count = await db.prisma.chainEvent.count();
  await db.prisma.chainCursor.updateMany({ data: { lastBlock: BigInt(h.deployment.blockNumber - 1) } });
  const reread = await cache({ blockRange: 1000 }).syncOnce();
  expect([reread.events, reread.toBlock]).toEqual([0, head]);
  expect(await db.prisma.chainEvent.count()).toBe(count);
  await expectMirrorMatchesChain(jobs);

  // More activity after the "restart" is picked up incrementally.
  const jobC = jobs[2]!;
  await mined(node2.core.submit(jobC, 0, id32('rc'), 10n));
  await mined(verifier.core.verify(jobC, 0));
  const more = await follower.syncOnce();
  expect(more.fromBlock).toBe(head + 1);
  expect(more.events).toBe(3); // SubJobSubmitted, SubJobVerified, JobFinished
  await expectMirrorMatchesChain(jobs);
  const names = (
    await db.prisma.chainEvent.findMany({
      where: { blockNumber: { gt: BigInt(head) } },
      orderBy: { id: 'asc' },
    })
  ).map((e) => e.name);
  expect(names).toEqual(['SubJobSubmitted', 'SubJobVerified', 'JobFinished']);
});
