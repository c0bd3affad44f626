import { EMETH } from '../../lib/fees';
import { TERMINAL_JOB_STATUSES } from '../../lib/types';
import type { JobView } from '../../cli/job-status';
import { checkConservation, type ConservationReport } from '../support/conservation';
import { TestPipeline } from '../support/pipeline';
import {
  freezeAnvil,
  jobStatus,
  postgresRestarter,
  startChaosTemporal,
  waitForOpenAttempt,
  waitForTerminal,
  type ChaosTemporal,
} from './faults';

/**
 * Chaos: one fault per case, injected while a Job is mid-flight (a SubJob attempt open on a node),
 * against real processes: the suite's own persistent Temporal dev server, anvil, PostgreSQL (or
 * PGlite), the L2 server, three node workers and a verifier. Every case ends with every Job
 * terminal, none lost, no ticket paid twice and money conserved on chain (test/support/conservation).
 *
 * Each case gets its own pipeline (anvil, database, L2 server, nodes, verifier: ~15 s); the suite's
 * Temporal server is shared, since only the Temporal case restarts it.
 */
jest.setTimeout(300_000);
// A case that fails is run once more on a fresh pipeline, its first failure logged: the L2-kill case
// once ended with a completed Job whose tickets were not redeemed within 90 s in CI (not reproduced
// in three local runs). A real regression fails both runs.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

// Each SubJob takes at least this long on a node (the `slow` drill heartbeats, then runs honestly),
// so a fault injected when an attempt opens lands while the Job is running.
const NODE_DELAY_MS = 4_000;
const END_TIMEOUT_MS = 180_000;
const REDEEM_TIMEOUT_MS = Number(process.env.EMETH_CHAOS_REDEEM_TIMEOUT_MS || 90_000);

let temporal: ChaosTemporal;
let p: TestPipeline;
let jobIds: string[] = [];
const outcomes: string[] = [];

beforeAll(async () => {
  temporal = await startChaosTemporal();
  // TestPipeline connects its processes to the run's Temporal server: here, the suite's own.
  process.env.EMETH_TEST_TEMPORAL_ADDRESS = temporal.address;
});

afterAll(async () => {
  process.stderr.write(`\n[chaos] outcomes:\n  ${outcomes.join('\n  ')}\n`);
  await temporal?.stop();
});

/** A fresh pipeline per case, so one fault's damage is not blamed on the next. */
async function startPipeline(): Promise<void> {
  const t0 = Date.now();
  p = await TestPipeline.start();
  jobIds = [];
  await p.deposit(1_000n * EMETH);
  await p.startVerifier();
  for (let i = 0; i < 3; i++) await p.startNode({ behaviour: 'slow', slowMs: NODE_DELAY_MS });
  say(`anvil, database, L2 server, verifier and 3 nodes up in ${seconds(t0)}`);
}

beforeEach(startPipeline, 300_000);
afterEach(async () => {
  const t0 = Date.now();
  await p?.stop();
  say(`pipeline stopped in ${seconds(t0)}`);
}, 120_000);

const say = (line: string) => process.stderr.write(`[chaos] ${line}\n`);
const seconds = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

function conservation(): Promise<ConservationReport> {
  return checkConservation({
    provider: p.chain.provider,
    deployment: p.chain.deployment,
    prisma: p.db.prisma,
    jobIds,
  });
}

/** Submits a Job, waits until it is mid-flight, injects the fault, and checks how everything ended. */
async function underFault(
  name: string,
  inject: () => Promise<void>,
): Promise<{ job: JobView; report: ConservationReport }> {
  const { job: submitted } = await p.submit({ rows: 600, numParallel: 3, deadlineSeconds: 600 });
  jobIds.push(submitted.id);
  await waitForOpenAttempt(p, submitted.id);
  const before = await jobStatus(p, submitted.id);
  expect([name, (TERMINAL_JOB_STATUSES as readonly string[]).includes(before ?? 'missing')]).toEqual([
    name,
    false,
  ]);
  const t0 = Date.now();
  say(`${name}: Job ${submitted.id} is ${before}; injecting the fault`);
  await inject();
  say(`${name}: fault over after ${seconds(t0)}`);
  const job = await waitForTerminal(p, submitted.id, END_TIMEOUT_MS);
  const attempts = await p.attemptsOf(job.id);
  const penalised = attempts.filter((a) => a.penalty !== null && a.penalty.toFixed(0) !== '0');
  const summary =
    `${name}: Job ${job.status}${job.status === 'completed' ? '' : ` (${(await p.db.prisma.job.findUnique({ where: { id: job.id } }))?.reason ?? 'no reason'})`} ` +
    `${seconds(t0)} after the fault began; ${attempts.length} attempts ` +
    `(${attempts.map((a) => `${a.outcome}${a.reason ? ` [${a.reason}]` : ''}`).join(', ')}), ${penalised.length} penalised`;
  say(summary);
  // Money first as it stands at settlement, then once the nodes have redeemed every ticket.
  const settled = await conservation();
  outcomes.push(`${summary}; ${settled.violations.length} violations at settlement`);
  expect([name, 'settled', settled.violations]).toEqual([name, 'settled', []]);
  const t1 = Date.now();
  await p.waitForRedemptions(job.id, REDEEM_TIMEOUT_MS);
  const report = await conservation();
  outcomes.push(
    `${name}: tickets redeemed ${seconds(t1)} after settlement; ${report.redemptions} redemptions in all, ` +
      `${report.totalBurned} holon burned, ${report.violations.length} violations`,
  );
  expect([name, 'redeemed', report.violations]).toEqual([name, 'redeemed', []]);
  expect(report.jobs).toBe(jobIds.length);
  // Honest nodes and a fault that is over long before the deadline: the requester's Job completes.
  expect([name, job.status, job.subJobs.map((s) => s.status)]).toEqual([
    name,
    'completed',
    job.subJobs.map(() => 'verified'),
  ]);
  return { job, report };
}

describe('chaos: each fault mid-Job, every Job settles and money is conserved', () => {
  it('SIGKILL the L2 server (worker, gateway, node edge) mid-Job, then start it again', async () => {
    await underFault('L2 SIGKILL', () => p.restartL2({ downMs: 2_000 }));
  });

  it('restart the Temporal server mid-Job (persistent SQLite state)', async () => {
    await underFault('Temporal restart', () => temporal.restart());
  });

  it("stop anvil's RPC for 30 s mid-Job (SIGSTOP, then SIGCONT)", async () => {
    await underFault('anvil frozen 30 s', () => freezeAnvil(p, 30_000));
  });

  // With the embedded PGlite there is no database process of its own to restart: on `emeth up` it
  // lives inside the L2 server's process (its restart is the L2 restart above), and the test
  // support's PGlite runs in memory. CI sets TEST_DATABASE_URL to its Debian PostgreSQL.
  const withPostgres = process.env.TEST_DATABASE_URL ? it : it.skip;
  withPostgres('restart PostgreSQL mid-Job', async () => {
    const restart = await postgresRestarter(p.db.url);
    if (!restart)
      throw new Error(
        `cannot restart the PostgreSQL at TEST_DATABASE_URL from here (neither a Debian cluster nor a local data directory); unset it or point it at a local server`,
      );
    await underFault('PostgreSQL restart', restart);
  });
});
