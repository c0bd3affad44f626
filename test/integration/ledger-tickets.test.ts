/**
 * The Ledger's tickets on a real (migrated) database: a verified SubJob earns its node's ticket and
 * its verifier's, each paying one party; a retry issues nothing twice; settlement charges exactly
 * their sum. A SubJob ticketed before the split keeps its one combined ticket.
 */
import { id as keccakId } from 'ethers';
import { createLedgerActivities } from '../../activities/ledger';
import { createLogger } from '../../lib/logger';
import { hashTicket } from '../../lib/tickets';
import { ticketOfRow } from '../../prisma/ledger';
import { createTestDatabase, type TestDatabase } from '../support/db';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

const requester = '0x' + '11'.repeat(20);
const node = '0x' + '22'.repeat(20);
const verifier = '0x' + '33'.repeat(20);
const PRICE = 120n;
const settled: [string, bigint][] = [];
const ledger = () =>
  createLedgerActivities({
    prisma: db.prisma,
    chain: {
      freeDeposit: async () => 10n ** 30n,
      commit: async () => {},
      settleCommitment: async (_r: string, jobId: string, total: bigint) => {
        settled.push([jobId, total]);
      },
    } as never,
    logger: createLogger('silent'),
  });

/** A Job with SubJobs `fees[i]` of verifier fee, each verified with 100 × (i + 1) fuel (null: not verified). */
async function jobWith(label: string, fees: (bigint | null)[]) {
  const jobId = keccakId(label);
  await db.prisma.job.create({
    data: {
      id: jobId,
      workflowId: `wf-${label}`,
      requester,
      programId: 1,
      dataset: 'blob',
      params: {},
      numParallel: fees.length,
      capabilityClass: 'cpu',
      fuelLimit: '100000',
      fuelPrice: PRICE.toString(),
      verifierFee: '5000',
      deadline: new Date(Date.now() + 3_600_000),
      status: 'running',
      reserved: (100_000n * PRICE + 5_000n).toString(),
    },
  });
  // Committed on chain, so settlement lowers the commitment (the fake chain records it).
  await db.prisma.ledgerEntry.create({
    data: { id: `${jobId}:commit`, requester, jobId, kind: 'commit', amount: '1' },
  });
  const subs: string[] = [];
  for (const [i, fee] of fees.entries()) {
    const id = keccakId(`${label}-sub-${i}`);
    subs.push(id);
    await db.prisma.subJob.create({
      data: {
        id,
        jobId,
        index: i,
        programId: 1,
        shard: 'blob',
        rowStart: i * 10,
        rows: 10,
        fuelLimit: '1000',
        verifierFee: (fee ?? 50n).toString(),
        status: fee === null ? 'cancelled' : 'verified',
        nodeId: node,
        fuelUsed: fee === null ? null : String(100 * (i + 1)),
        output: fee === null ? null : `out-${i}`,
      },
    });
    if (fee !== null)
      await db.prisma.verification.create({
        data: {
          id: `${id}:1`,
          subJobId: id,
          verifier,
          valid: true,
          rowsChecked: 10,
          maxDiff: 0,
          fuelUsed: String(100 * (i + 1)),
          signature: '0x',
        },
      });
  }
  return { jobId, subs };
}

const holon = (d: { toFixed(n: number): string }) => BigInt(d.toFixed(0));

it("issues a SubJob's node ticket and verifier ticket once each; settlement charges exactly their sum", async () => {
  const { jobId, subs } = await jobWith('split', [50n, 0n, null]);
  const l = ledger();
  await l.issueTicket({ subJobId: subs[0]! });
  await l.issueTicket({ subJobId: subs[0]! }); // a retried activity
  const first = await db.prisma.ticket.findMany({ where: { subJobId: subs[0]! }, orderBy: { role: 'asc' } });
  expect(first.map((t) => [t.role, t.node, holon(t.amount), t.verifier, holon(t.verifierFee)])).toEqual([
    ['node', node, 100n * PRICE, verifier, 0n],
    ['verifier', node, 0n, verifier, 50n],
  ]);
  for (const t of first) expect(t.id).toBe(hashTicket(ticketOfRow(t)));

  const { charged } = await l.settleJob(jobId, 'completed');
  const rows = await db.prisma.ticket.findMany({ where: { jobId } });
  // SubJob 1 has a zero fee: its node's ticket only. SubJob 2 was never verified: none.
  expect(rows.map((t) => [t.subJobId, t.role]).sort()).toEqual(
    [
      [subs[0], 'node'],
      [subs[0], 'verifier'],
      [subs[1], 'node'],
    ].sort(),
  );
  const sum = rows.reduce((a, t) => a + holon(t.amount) + holon(t.verifierFee), 0n);
  expect(sum).toBe(100n * PRICE + 50n + 200n * PRICE);
  expect(BigInt(charged)).toBe(sum);
  expect(settled).toContainEqual([jobId, sum]);
  const job = await db.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
  expect(holon(job.charged) + holon(job.refunded)).toBe(holon(job.reserved));
});

it('a SubJob ticketed before the split keeps its one combined ticket: its verifier is not paid twice', async () => {
  const { jobId, subs } = await jobWith('combined', [50n]);
  const combined = {
    jobId,
    subJobId: subs[0]!,
    node,
    requester,
    amount: 100n * PRICE,
    verifier,
    verifierFee: 50n,
  };
  await db.prisma.ticket.create({
    data: {
      ...combined,
      id: hashTicket(combined),
      amount: combined.amount.toString(),
      verifierFee: '50',
    },
  });
  const { charged } = await ledger().settleJob(jobId, 'completed');
  const rows = await db.prisma.ticket.findMany({ where: { jobId } });
  expect(rows.map((t) => [t.role, holon(t.amount), holon(t.verifierFee)])).toEqual([
    ['node', 100n * PRICE, 50n],
  ]);
  expect(BigInt(charged)).toBe(100n * PRICE + 50n);
});
