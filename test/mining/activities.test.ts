/**
 * The mining activities on a real (migrated) database with a fake EmethMining: which work counts
 * in an epoch (verified and ticketed; replicas yes; canaries, verifier fees and a run's second
 * verdict no), when an epoch waits for work still being ticketed, that empty epochs are skipped,
 * and that posting is idempotent (a lost response, another run first, a foreign root).
 */
import { id as keccakId } from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import {
  MINING_LEAF_ENCODING,
  createMiningActivities,
  type ChainMiningEpoch,
  type MiningChain,
} from '../../activities/mining';
import { EMETH } from '../../lib/fees';
import { verifiedWorkIn } from '../../activities/mining/fuel';
import { createLogger } from '../../lib/logger';
import { createTestDatabase, type TestDatabase } from '../support/db';

const LEN = 60;
// Epoch 0 starts a while ago, on a whole minute.
const G = Math.floor(Date.now() / 1000 / LEN) * LEN - 3_600;
const at = (s: number) => new Date((G + s) * 1000);
const [A, B, C] = ['aa', 'bb', 'cc'].map((b) => '0x' + b.repeat(20));
const requester = '0x' + '11'.repeat(20);
const verifier = '0x' + '33'.repeat(20);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

/** EmethMining in memory: `lose` makes the next post land on chain and its response get lost. */
function fakeMining() {
  const epochs = new Map<number, ChainMiningEpoch & { tx: string }>();
  const sent: number[] = [];
  let lose = false;
  const chain: MiningChain = {
    address: '0x' + '99'.repeat(20),
    schedule: async () => ({ genesis: G, epochLength: LEN }),
    epoch: async (e) =>
      epochs.get(e) ?? {
        posted: false,
        root: '0x' + '00'.repeat(32),
        totalFuel: 0n,
        pool: 0n,
        claimDeadline: 0,
      },
    async postEpoch(e, root, totalFuel) {
      if (epochs.get(e)?.posted) throw new Error(`EpochAlreadyPosted(${e})`);
      sent.push(e);
      const tx = keccakId(`tx-${e}-${sent.length}`);
      epochs.set(e, { posted: true, root, totalFuel, pool: 12_000n * EMETH, claimDeadline: G + 10 ** 6, tx });
      if (lose) {
        lose = false;
        throw new Error('socket hang up');
      }
      return tx;
    },
    postedTx: async (e) => epochs.get(e)?.tx,
    hasClaimed: async () => false,
    isPoster: async () => true,
  };
  return { chain, epochs, sent, loseNext: () => (lose = true) };
}

let n = 0;
/** A Job (status `status`) and one SubJob with these runs: who ran it, when its verdict came, its fuel. */
async function subJob(
  status: string,
  runs: { node: string; at: number; fuel: number; ticket?: 'node' | 'replica'; canary?: boolean }[],
) {
  const label = `job-${n++}`;
  const jobId = keccakId(label);
  await db.prisma.job.create({
    data: {
      id: jobId,
      workflowId: `wf-${label}`,
      requester,
      programId: 1,
      dataset: 'blob',
      params: {},
      numParallel: 1,
      capabilityClass: 'cpu',
      fuelLimit: '100000',
      fuelPrice: '1',
      verifierFee: '10',
      deadline: new Date(Date.now() + 3_600_000),
      status,
    },
  });
  const subJobId = keccakId(`${label}-sub`);
  await db.prisma.subJob.create({
    data: {
      id: subJobId,
      jobId,
      index: 0,
      programId: 1,
      shard: 'blob',
      rowStart: 0,
      rows: 10,
      fuelLimit: '1000',
      verifierFee: '10',
      status: 'verified',
      nodeId: runs[0]!.node,
    },
  });
  for (const [i, r] of runs.entries()) {
    const id = `${subJobId}:${i + 1}`;
    await db.prisma.attempt.create({
      data: { id, subJobId, nodeId: r.node, attempt: i + 1, outcome: 'verified', canary: r.canary ?? false },
    });
    await db.prisma.result.create({
      data: {
        id,
        subJobId,
        nodeId: r.node,
        output: 'out',
        fuelUsed: String(r.fuel),
        signature: '0x',
        executionProvider: 'cpu',
      },
    });
    await db.prisma.verification.create({
      data: {
        id,
        subJobId,
        verifier,
        valid: true,
        rowsChecked: 10,
        maxDiff: 0,
        fuelUsed: String(r.fuel),
        signature: '0x',
        createdAt: at(r.at),
      },
    });
    if (r.ticket)
      await db.prisma.ticket.create({
        data: {
          id: keccakId(`${id}-ticket`),
          jobId,
          subJobId,
          role: r.ticket,
          node: r.node,
          requester,
          amount: String(r.fuel),
          verifier,
          verifierFee: '0',
        },
      });
  }
  // Its verifier's fee ticket: no GPU work, never counted.
  await db.prisma.ticket.create({
    data: {
      id: keccakId(`${subJobId}-verifier`),
      jobId,
      subJobId,
      role: 'verifier',
      node: runs[0]!.node,
      requester,
      amount: '0',
      verifier,
      verifierFee: '10',
    },
  });
  return subJobId;
}

const shares = async (epoch: number) =>
  Object.fromEntries(
    (await db.prisma.miningShare.findMany({ where: { epoch } })).map((s) => [
      s.node,
      BigInt(s.fuel.toFixed(0)),
    ]),
  );

it('counts verified, ticketed runs per epoch, waits for work being ticketed, skips empty epochs, posts each once', async () => {
  // Epoch 0: A's run (100); a replicated SubJob, A 50 + B's replica 50; B's run (30) that C re-ran as a canary.
  const s1 = await subJob('completed', [{ node: A!, at: 10, fuel: 100, ticket: 'node' }]);
  await subJob('completed', [
    { node: A!, at: 20, fuel: 50, ticket: 'node' },
    { node: B!, at: 25, fuel: 50, ticket: 'replica' },
  ]);
  await subJob('completed', [
    { node: B!, at: 30, fuel: 30, ticket: 'node' },
    { node: C!, at: 40, fuel: 30, canary: true },
  ]);
  // Epoch 1: nothing. Epoch 2: C's ticketed run (7); a run of a running Job not yet ticketed; and a
  // second valid verdict on A's run of s1, which counted in epoch 0 already.
  await subJob('completed', [{ node: C!, at: 125, fuel: 7, ticket: 'node' }]);
  await subJob('running', [{ node: B!, at: 130, fuel: 1_000 }]);
  await db.prisma.verification.create({
    data: {
      id: `${s1}:9`,
      subJobId: s1,
      verifier,
      valid: true,
      rowsChecked: 1,
      maxDiff: 0,
      fuelUsed: '100',
      signature: '0x',
      createdAt: at(140),
    },
  });
  await db.prisma.result.create({
    data: {
      id: `${s1}:9`,
      subJobId: s1,
      nodeId: A!,
      output: 'out',
      fuelUsed: '100',
      signature: '0x',
      executionProvider: 'cpu',
    },
  });

  const fake = fakeMining();
  let clock = (G + 185) * 1000; // epoch 3 in progress
  const m = createMiningActivities({
    prisma: db.prisma,
    mining: fake.chain,
    logger: createLogger('silent'),
    now: () => clock,
  });

  expect(await m.prepareNextMiningEpoch()).toEqual({ kind: 'ready', epoch: 0, nodes: 2, totalFuel: '230' });
  expect(await shares(0)).toEqual({ [A!]: 150n, [B!]: 80n });
  // The stored proofs prove (node, epoch, fuel) against the stored root.
  const row = await db.prisma.miningEpoch.findUniqueOrThrow({
    where: { epoch: 0 },
    include: { shares: true },
  });
  for (const s of row.shares)
    expect(
      StandardMerkleTree.verify(
        row.root,
        [...MINING_LEAF_ENCODING],
        [s.node, 0n, BigInt(s.fuel.toFixed(0))],
        s.proof as string[],
      ),
    ).toBe(true);
  // Asked again before it is posted: the same stored tree.
  expect(await m.prepareNextMiningEpoch()).toMatchObject({ kind: 'ready', epoch: 0 });

  // The post lands but its response is lost: the retry finds it on chain and sends nothing.
  fake.loseNext();
  const first = await m.postMiningEpoch({ epoch: 0 });
  expect(first).toEqual({
    epoch: 0,
    root: row.root,
    totalFuel: '230',
    pool: (12_000n * EMETH).toString(),
    nodes: 2,
    txHash: fake.epochs.get(0)!.tx,
  });
  await m.postMiningEpoch({ epoch: 0 });
  expect(fake.sent).toEqual([0]);

  // Epoch 2 has a verified run still unticketed in a running Job: it waits...
  expect(await m.prepareNextMiningEpoch()).toEqual({ kind: 'wait', epoch: 2, retryInMs: 6_000 });
  // ...at most one epoch length past its end, then goes with what was ticketed (A not twice).
  clock = (G + 241) * 1000;
  expect(await m.prepareNextMiningEpoch()).toMatchObject({
    kind: 'ready',
    epoch: 2,
    nodes: 1,
    totalFuel: '7',
  });
  expect(await shares(2)).toEqual({ [C!]: 7n });
  // Another run posted the same tree first: recorded, not sent again.
  const two = await db.prisma.miningEpoch.findUniqueOrThrow({ where: { epoch: 2 } });
  fake.epochs.set(2, {
    posted: true,
    root: two.root,
    totalFuel: 7n,
    pool: 1n,
    claimDeadline: G + 999,
    tx: '0x02',
  });
  await expect(m.postMiningEpoch({ epoch: 2 })).resolves.toMatchObject({ pool: '1', txHash: '0x02' });
  expect(fake.sent).toEqual([0]);
  expect((await db.prisma.miningEpoch.findUniqueOrThrow({ where: { epoch: 2 } })).postedAt).not.toBeNull();
  // Epoch 1 was never posted (no work), and nothing is left.
  expect(await db.prisma.miningEpoch.findUnique({ where: { epoch: 1 } })).toBeNull();
  expect(await m.prepareNextMiningEpoch()).toEqual({ kind: 'none' });

  // A root someone else posted for epoch 4 (a database restored without its chain): recorded as the
  // chain has it, our shares dropped, and the next epochs go on.
  await subJob('completed', [{ node: A!, at: 250, fuel: 5, ticket: 'node' }]);
  clock = (G + 305) * 1000;
  expect(await m.prepareNextMiningEpoch()).toMatchObject({ kind: 'ready', epoch: 4 });
  fake.epochs.set(4, {
    posted: true,
    root: '0x' + 'ab'.repeat(32),
    totalFuel: 5n,
    pool: 1n,
    claimDeadline: 0,
    tx: '0x04',
  });
  await expect(m.postMiningEpoch({ epoch: 4 })).resolves.toMatchObject({
    root: '0x' + 'ab'.repeat(32),
    nodes: 0,
  });
  expect(await shares(4)).toEqual({});
  expect(await m.prepareNextMiningEpoch()).toEqual({ kind: 'none' });
});

it('without an EmethMining the activities are disabled', async () => {
  const m = createMiningActivities({ prisma: db.prisma, logger: createLogger('silent') });
  expect(await m.prepareNextMiningEpoch()).toEqual({ kind: 'disabled' });
});

it("an L1 run counts once EmethCore's SubJobVerified names its node (it has no ticket), and waits until then", async () => {
  const sub = await subJob('running', [{ node: C!, at: 3_010, fuel: 42 }]);
  const { jobId } = await db.prisma.subJob.findUniqueOrThrow({ where: { id: sub } });
  await db.prisma.job.update({ where: { id: jobId }, data: { layer: 'l1' } });
  const window = [at(3_000), at(3_060)] as const;
  // Verified by the L2's verifier, not yet verified (paid) on chain: pending, not counted.
  expect(await verifiedWorkIn(db.prisma, ...window)).toEqual({ fuel: new Map(), pending: 1 });
  // SubJobVerified for another node does not count for C.
  const step = (actor: string, logIndex: number) => ({
    id: `${keccakId(`tx-${actor}`)}:${logIndex}`,
    jobId,
    subJobIndex: 0,
    event: 'SubJobVerified',
    actor,
    amount: '42',
    txHash: keccakId(`tx-${actor}`),
    blockNumber: 7,
    logIndex,
  });
  await db.prisma.chainStep.create({ data: step(A!, 0) });
  expect((await verifiedWorkIn(db.prisma, ...window)).fuel.get(C!)).toBeUndefined();
  await db.prisma.chainStep.create({ data: step(C!, 1) });
  expect(await verifiedWorkIn(db.prisma, ...window)).toEqual({ fuel: new Map([[C!, 42n]]), pending: 0 });
});
