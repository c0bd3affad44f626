import fs from 'node:fs';
import path from 'node:path';
import { EMETH } from '../../lib/fees';
import { TestPipeline } from '../support/pipeline';
import { buildBatchTrapModel } from '../../examples/models';

// Every Job ends (settled, reservation released) whatever fails on its way. Real Temporal,
// PostgreSQL, anvil; the L2 server, nodes and verifier as real processes.
jest.setTimeout(240_000);

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
});
afterAll(() => p?.stop());

/** What the Job still holds of the deposit: reserved − charged − released (0 once settled). */
const reservedOf = async (jobId: string) =>
  (
    await p.db.prisma.ledgerEntry.findMany({
      where: { jobId, kind: { in: ['reserve', 'charge', 'release'] } },
    })
  ).reduce((acc, e) => acc + (e.kind === 'reserve' ? 1n : -1n) * BigInt(e.amount.toFixed(0)), 0n);

it('a Job whose split throws ends failed and settled within a minute, the reason in its view', async () => {
  // Its fuel limit passes the gateway but cannot cover its shards: the Splitter refuses it.
  const { job } = await p.submit({ rows: 60, numParallel: 2, fuelHeadroom: 0.3 });
  const started = Date.now();
  const done = await p.waitForEnd(job.id, 60_000);
  expect(done.status).toBe('failed');
  expect(Date.now() - started).toBeLessThan(60_000);
  const row = await p.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
  expect(row.reason).toMatch(/fuelLimit is too low: shard 0 needs/);
  expect(row.charged.toFixed(0)).toBe('0');
  expect(row.refunded.toFixed(0)).toBe(row.reserved.toFixed(0));
  expect(await reservedOf(job.id)).toBe(0n);
  // Its commitment on EmethCore was settled to nothing: the whole amount is free again.
  const requester = (await p.requester.getAddress()).toLowerCase();
  const onChain = await p.core().getCommitment(requester, job.id);
  expect(onChain.settled).toBe(true);
  expect(onChain.amount).toBe(0n);
});

it('the reconciliation settles a row left non-terminal behind a closed workflow', async () => {
  // No node of this class: the Job waits; an operator terminates its workflow.
  const { job } = await p.submit({ rows: 60, numParallel: 1, capabilityClass: 'nobody-here' });
  await p.waitForJob(job.id, (j) => j.status === 'running');
  await p.temporal.workflow.getHandle(job.workflowId).terminate('operator drill');
  const row = await p.waitForJob(job.id, (j) => j.status === 'failed', 60_000);
  expect(row.status).toBe('failed');
  const db = await p.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
  expect(db.reason).toMatch(/reconciled: the Job's workflow ended \(terminated\)/);
  expect(await reservedOf(job.id)).toBe(0n);
  expect(db.refunded.toFixed(0)).toBe(db.reserved.toFixed(0));
  // The L2 logs asynchronously (pino): the line may reach the file a moment after the row changed.
  const log = path.join(p.home, 'l2.log');
  for (let i = 0; i < 50 && !/Job reconciled/.test(fs.readFileSync(log, 'utf8')); i++) {
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(fs.readFileSync(log, 'utf8')).toMatch(/Job reconciled/);
});

it("a model that fails on every executor is the requester's fault: Job failed, no penalty, reservation released", async () => {
  await p.startVerifier();
  const nodes = [
    await p.startNode({ capabilityClass: 'trap' }),
    await p.startNode({ capabilityClass: 'trap' }),
  ];
  const stakes = await Promise.all(nodes.map((n) => p.stakeOf(n.address)));
  const burned = await p.totalBurned();
  const { job } = await p.submit({
    rows: 100, // shards of 50 rows do not reshape to [1, 32]; the one row inspected at submit does
    numParallel: 2,
    capabilityClass: 'trap',
    model: buildBatchTrapModel(32),
  });
  const done = await p.waitForEnd(job.id, 120_000);
  expect(done.status).toBe('failed');
  const row = await p.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
  expect(row.reason).toMatch(/requester's input fails on every executor/);
  const attempts = await p.attemptsOf(job.id);
  expect(attempts.length).toBeGreaterThan(0);
  expect(attempts.some((a) => a.outcome === 'input-fault')).toBe(true);
  expect(attempts.every((a) => a.penalty === null)).toBe(true);
  expect(await p.totalBurned()).toBe(burned);
  for (const [i, n] of nodes.entries()) expect(await p.stakeOf(n.address)).toBe(stakes[i]);
  expect(await reservedOf(job.id)).toBe(0n);
  expect(row.charged.toFixed(0)).toBe('0');
});

it('GET /metrics shows operators the money: Jobs by status, reservations, tickets, penalties, reconciliation fixes', async () => {
  const res = await fetch(`${p.config.gateway.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/plain/);
  const text = await res.text();
  const failed = await p.db.prisma.job.count({ where: { status: 'failed' } });
  expect(text).toContain(`emeth_jobs{status="failed"} ${failed}`);
  expect(text).toMatch(/^emeth_reservations_outstanding_holon 0$/m);
  expect(text).toMatch(/^emeth_reconciliation_fixes_total [1-9]/m);
  expect(text).toMatch(/^emeth_tickets\{state="pending"\} \d+$/m);
  expect(text).toMatch(/^emeth_signer_lag_seconds /m);
  expect(text).toMatch(/^emeth_subjob_attempt_duration_seconds_count\{outcome="input-fault"\} [1-9]/m);
});
