import { NonceManager, Wallet } from 'ethers';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_FEE_PARAMS, EMETH, GHOLON } from '../../lib/fees';
import { generateExamples } from '../../examples/generate';
import { emethCore, emethToken } from '../../contracts/typed';
import { GatewayClient } from '../../cli/gateway-client';
import { leaveEarlyPenaltyOf } from '../../activities/lease/pricing';
import { deploymentWorkflowId } from '../../api/routes/deployments';
import { TestPipeline, type TestNode } from '../support/pipeline';
import { runCliToEnd } from '../support/process';
import { DEV_ROLES, devKey } from '../../lib/dev-accounts';

// GPU rental (paper 5-2): leases of short periods on a real stack (Temporal, PostgreSQL, anvil; the
// L2 server, three nodes and a verifier as processes). Every amount is checked to the holon.
jest.setTimeout(300_000);

const PERIOD_S = 5;
/** 900 EMETH an hour is 1.25 EMETH a 5-second period. */
const HOURLY = 900n * EMETH;
const PER_PERIOD = (HOURLY * BigInt(PERIOD_S)) / 3600n;

interface LeaseView {
  id: string;
  status: string;
  reason: string | null;
  budget: string;
  charged: string;
  refunded: string;
  pricePerPeriod: string;
  periods: number;
  startsAt: string | null;
  endsAt: string | null;
  nodes: { nodeId: string; status: string; paidPeriods: number }[];
  temporal: { workflowId: string };
}

interface DeploymentView {
  id: string;
  replicas: { nodeId: string; status: string }[];
}

let p: TestPipeline;
let nodes: TestNode[];
let lessee: string;
let modelBytes: Uint8Array;
beforeAll(async () => {
  p = await TestPipeline.start({
    env: { EMETH_LEASE_PERIOD_SECONDS: String(PERIOD_S), EMETH_LEASE_CONFIRM_TIMEOUT_MS: '2500' },
  });
  lessee = (await p.requester.getAddress()).toLowerCase();
  await p.deposit(200n * EMETH);
  await p.startVerifier();
  nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await p.startNode());
  const ex = await generateExamples(path.join(p.home, 'examples-lease'), { rows: 8 });
  modelBytes = new Uint8Array(fs.readFileSync(ex.model.path));
});
afterAll(() => p?.stop());

const lease = (nodeCount: number, periods: number, gateway: GatewayClient = p.gateway) =>
  gateway.createLease<LeaseView>(
    {
      capabilityClass: 'cpu',
      nodes: nodeCount,
      durationSeconds: periods * PERIOD_S,
      hourlyPrice: HOURLY.toString(),
    },
    p.chain.deployment.core,
  );
const view = (id: string) => p.gateway.call<LeaseView>('GET', `/v1/leases/${id}`);

async function until(id: string, done: (l: LeaseView) => boolean, timeoutMs = 60_000): Promise<LeaseView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await view(id);
    if (done(l)) return l;
    if (Date.now() > deadline) throw new Error(`lease ${id} did not get there; last ${JSON.stringify(l)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits for the lease's workflow to close, then checks its money: tickets, ledger, chain. */
async function settled(l: LeaseView, freeBefore: bigint): Promise<LeaseView> {
  await p.temporal.workflow.getHandle(l.temporal.workflowId).result();
  const end = await view(l.id);
  expect(end.status).toBe('ended');
  const tickets = await p.db.prisma.ticket.findMany({ where: { jobId: l.id } });
  const charged = tickets.reduce((a, t) => a + BigInt(t.amount.toFixed(0)), 0n);
  for (const t of tickets) expect(BigInt(t.amount.toFixed(0))).toBe(PER_PERIOD);
  expect(BigInt(end.charged)).toBe(charged);
  expect(BigInt(end.refunded)).toBe(BigInt(end.budget) - charged);
  // The nodes' paid periods are their tickets.
  for (const n of end.nodes) expect(tickets.filter((t) => t.node === n.nodeId)).toHaveLength(n.paidPeriods);
  const commitment = await p.core().getCommitment(lessee, l.id);
  expect(commitment.settled).toBe(true);
  expect(commitment.amount).toBe(charged);
  expect(await p.core().freeDeposit(lessee)).toBe(freeBefore - charged);
  const entries = await p.db.prisma.ledgerEntry.findMany({ where: { jobId: l.id } });
  const kind = (k: string) => BigInt(entries.find((e) => e.kind === k)!.amount.toFixed(0));
  expect(kind('charge')).toBe(charged);
  expect(kind('release')).toBe(BigInt(end.budget) - charged);
  return end;
}

it('refuses a duration that is not whole periods, a price that is not a whole holon per period, an uncovered budget', async () => {
  const core = p.chain.deployment.core;
  const body = {
    capabilityClass: 'cpu',
    nodes: 1,
    durationSeconds: PERIOD_S,
    hourlyPrice: HOURLY.toString(),
  };
  await expect(p.gateway.createLease({ ...body, durationSeconds: PERIOD_S + 1 }, core)).rejects.toMatchObject(
    {
      code: 'invalid_duration',
      message: expect.stringContaining('durationSeconds'),
    },
  );
  await expect(p.gateway.createLease({ ...body, hourlyPrice: '1001' }, core)).rejects.toMatchObject({
    code: 'invalid_price',
  });
  await expect(
    p.gateway.createLease({ ...body, nodes: 3, durationSeconds: 1000 * PERIOD_S }, core),
  ).rejects.toMatchObject({
    code: 'insufficient_deposit',
  });
});

it('a lease that runs to its end pays every node every period and refunds the rest to the holon', async () => {
  const freeBefore = await p.core().freeDeposit(lessee);
  const l = await lease(2, 3);
  expect(BigInt(l.budget)).toBe(6n * PER_PERIOD);
  expect(l.status).toBe('pending');
  const active = await until(l.id, (v) => v.status === 'active');
  expect(active.nodes).toHaveLength(2);
  const end = await settled(l, freeBefore);
  expect(end.reason).toBe('ended on time');
  expect(BigInt(end.charged)).toBe(6n * PER_PERIOD);
  expect(end.refunded).toBe('0');
  for (const n of end.nodes) expect(n).toMatchObject({ status: 'released', paidPeriods: 3 });
  // On time: it ended no earlier than its periods.
  expect(Date.parse(end.endsAt!) - Date.parse(end.startsAt!)).toBe(3 * PERIOD_S * 1000);
  // The nodes redeem their tickets themselves, out of the lease's commitment.
  await p.waitForRedemptions(l.id, 90_000);
  expect((await p.core().getCommitment(lessee, l.id)).spent).toBe(6n * PER_PERIOD);
  expect(await p.core().freeDeposit(lessee)).toBe(freeBefore - 6n * PER_PERIOD);
});

it('a lease ended early pays the period under way and refunds every later one to the holon', async () => {
  const freeBefore = await p.core().freeDeposit(lessee);
  const l = await lease(2, 6);
  await until(l.id, (v) => v.status === 'active' && v.nodes.every((n) => n.paidPeriods === 1));
  const ending = await p.gateway.call<LeaseView>('DELETE', `/v1/leases/${l.id}`);
  expect(ending.id).toBe(l.id);
  const end = await settled(l, freeBefore);
  expect(end.reason).toMatch(/ended early by/);
  expect(BigInt(end.charged)).toBe(2n * PER_PERIOD); // one period started, two nodes
  expect(BigInt(end.refunded)).toBe(12n * PER_PERIOD - 2n * PER_PERIOD);
  for (const n of end.nodes) expect(n).toMatchObject({ status: 'released', paidPeriods: 1 });
  await expect(p.gateway.call('DELETE', `/v1/leases/${l.id}`)).rejects.toMatchObject({ code: 'lease_ended' });
});

it('a requester racing a lease and a deployment for one deposit: the gateway admits one, refuses the other (402), and holds nothing for it', async () => {
  // Each budget is 60% of what is free: either fits, both do not.
  const free = await p.core().freeDeposit(lessee);
  const periods = Number((free * 3n) / 5n / PER_PERIOD);
  const budget = BigInt(periods) * PER_PERIOD;
  const model = await p.gateway.putBlob(modelBytes);
  const before = {
    leases: await p.db.prisma.lease.count({ where: { requester: lessee } }),
    deployments: await p.db.prisma.deployment.count({ where: { requester: lessee } }),
  };
  const [leased, deployed] = await Promise.allSettled([
    lease(1, periods),
    p.gateway.deploy<DeploymentView>(
      {
        model: model.id,
        pricing: 'request',
        price: (5n * GHOLON * 1000n).toString(),
        budget: budget.toString(),
        maxRowsPerRequest: 16,
      },
      p.chain.deployment.core,
    ),
  ]);
  const outcomes = [leased, deployed];
  expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
  // GatewayClient.call throws the gateway's sentence (code insufficient_deposit), deploy its HTTP line.
  expect(String(refused.reason)).toMatch(/free deposit of 0x[0-9a-f]{40} is \d+ holon but/);
  const after = {
    leases: await p.db.prisma.lease.count({ where: { requester: lessee } }),
    deployments: await p.db.prisma.deployment.count({ where: { requester: lessee } }),
  };
  expect(after.leases + after.deployments).toBe(before.leases + before.deployments + 1);

  // The one admitted ends, settled: what it charged plus what it refunded is its budget.
  if (leased.status === 'fulfilled') {
    await p.gateway.call('DELETE', `/v1/leases/${leased.value.id}`);
    await p.temporal.workflow.getHandle(leased.value.temporal.workflowId).result();
    const end = await view(leased.value.id);
    expect(BigInt(end.charged) + BigInt(end.refunded)).toBe(budget);
  } else if (deployed.status === 'fulfilled') {
    await p.gateway.call('DELETE', `/v1/deployments/${deployed.value.id}`);
    await p.temporal.workflow.getHandle(deploymentWorkflowId(deployed.value.id)).result();
    const d = await p.db.prisma.deployment.findUniqueOrThrow({ where: { id: deployed.value.id } });
    expect(BigInt(d.charged.toFixed(0)) + BigInt(d.refunded.toFixed(0))).toBe(budget);
  }
});

it("while a lease is active another requester's Jobs and deployments never run on its nodes, and the lessee's own may", async () => {
  // A second requester with its own deposit.
  const other = new NonceManager(new Wallet(Wallet.createRandom().privateKey, p.chain.provider));
  const otherAddress = await other.getAddress();
  await p.chain.provider.send('anvil_setBalance', [otherAddress, '0x56BC75E2D63100000']);
  await p.mint(otherAddress, 50n * EMETH);
  await (
    await emethToken(p.chain.deployment.token, other).approve(p.chain.deployment.core, 50n * EMETH)
  ).wait();
  await (await emethCore(p.chain.deployment.core, other).deposit(50n * EMETH)).wait();
  const asOther = new GatewayClient(p.config.gateway.url, other, p.chain.deployment.chainId);

  const l = await lease(2, 24);
  const active = await until(l.id, (v) => v.status === 'active');
  const leased = new Set(active.nodes.map((n) => n.nodeId));
  const third = nodes.find((n) => !leased.has(n.address))!;

  try {
    // The lessee's Job first, then the other's, both running while the lease holds its nodes.
    const own = await p.submit({ rows: 300, numParallel: 3 });
    const { job } = await p.submit({ rows: 300, numParallel: 2, as: asOther });
    expect((await p.waitForEnd(own.job.id)).status).toBe('completed');
    // The other's Job is not the suite requester's to read: its workflow's end, and its row.
    await p.temporal.workflow.getHandle(job.workflowId).result();
    expect((await p.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } })).status).toBe('completed');
    const attempts = await p.attemptsOf(job.id);
    expect(attempts.length).toBeGreaterThan(0);
    for (const a of attempts) expect(a.nodeId).toBe(third.address);
    const ownNodes = new Set((await p.attemptsOf(own.job.id)).map((a) => a.nodeId));
    expect([...ownNodes].some((n) => leased.has(n))).toBe(true);

    // Deployments too: another requester's replicas avoid the leased nodes (it asks for 2 and gets
    // the one free node); the lessee's deployment on its lease is placed on the lease's nodes only.
    const model = await p.gateway.putBlob(modelBytes);
    const modelOfOther = await asOther.putBlob(modelBytes);
    const deployment = (extra: Record<string, unknown>, gateway = p.gateway, blob = model.id) =>
      gateway.deploy<DeploymentView>(
        {
          model: blob,
          pricing: 'request',
          price: (5n * GHOLON * 1000n).toString(),
          budget: EMETH.toString(),
          maxRowsPerRequest: 16,
          minReplicas: 1,
          maxReplicas: 2,
          replicas: 2,
          ...extra,
        },
        p.chain.deployment.core,
      );
    const theirs = await deployment({}, asOther, modelOfOther.id);
    const mine = await deployment({ leaseId: l.id });
    const servingOn = async (gateway: GatewayClient, id: string, want: number) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const d = await gateway.call<DeploymentView>('GET', `/v1/deployments/${id}`);
        const on = d.replicas.filter((r) => r.status === 'serving').map((r) => r.nodeId);
        if (on.length >= want) return on;
        if (Date.now() > deadline)
          throw new Error(`deployment ${id} never served on ${want}: ${JSON.stringify(d)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    expect((await servingOn(p.gateway, mine.id, 2)).sort()).toEqual([...leased].sort());
    expect(await servingOn(asOther, theirs.id, 1)).toEqual([third.address]);
    const theirsNow = await asOther.call<DeploymentView>('GET', `/v1/deployments/${theirs.id}`);
    expect(theirsNow.replicas.map((r) => r.nodeId)).toEqual([third.address]);
    await p.gateway.call('DELETE', `/v1/deployments/${mine.id}`);
    await asOther.call('DELETE', `/v1/deployments/${theirs.id}`);
    // Settled before the next test reads the lessee's free deposit.
    for (const id of [mine.id, theirs.id])
      await p.temporal.workflow.getHandle(deploymentWorkflowId(id)).result();

    // Its nodes stayed in the lease throughout (busy with the lessee's SubJobs counts as there).
    const still = await view(l.id);
    expect(still.status).toBe('active');
    for (const n of still.nodes) expect(n.status).toBe('active');
  } finally {
    await p.gateway.call('DELETE', `/v1/leases/${l.id}`).catch(() => undefined);
    await p.temporal.workflow.getHandle(l.temporal.workflowId).result();
  }
  const end = await view(l.id);
  expect(end.status).toBe('ended');
  expect(BigInt(end.charged) + BigInt(end.refunded)).toBe(BigInt(end.budget));
  expect(BigInt(end.charged)).toBe(BigInt(end.nodes.reduce((a, n) => a + n.paidPeriods, 0)) * PER_PERIOD);
  for (const n of end.nodes) expect(n.status).toBe('released');
});

it('a node that leaves early is penalised as for a timeout, unpaid for the periods after, and they are refunded', async () => {
  const freeBefore = await p.core().freeDeposit(lessee);
  const l = await lease(2, 3);
  const active = await until(l.id, (v) => v.status === 'active' && v.nodes.every((n) => n.paidPeriods === 1));
  const leaver = nodes.find((n) => n.address === active.nodes[0]!.nodeId)!;
  const stayer = active.nodes[1]!.nodeId;
  const stake = await p.stakeOf(leaver.address);
  const burned = await p.totalBurned();
  await leaver.process.stop('SIGKILL');

  const end = await settled(l, freeBefore);
  const penalty = leaveEarlyPenaltyOf(3, PER_PERIOD, DEFAULT_FEE_PARAMS);
  expect(penalty).toBe((3n * PER_PERIOD * 2_500n) / 10_000n);
  expect(await p.stakeOf(leaver.address)).toBe(stake - penalty);
  expect((await p.totalBurned()) - burned).toBe(penalty);
  expect(end.nodes.find((n) => n.nodeId === leaver.address)).toMatchObject({
    status: 'left',
    paidPeriods: 1,
  });
  expect(end.nodes.find((n) => n.nodeId === stayer)).toMatchObject({ status: 'released', paidPeriods: 3 });
  expect(BigInt(end.charged)).toBe(4n * PER_PERIOD);
  expect(BigInt(end.refunded)).toBe(2n * PER_PERIOD);
  // The stayer's lock came back whole: nothing of its stake is held for the lease any more.
  expect((await p.core().getNode(stayer)).locked).toBe(0n);
});

it('the CLI: emeth lease create, status and end; a wrong command line exits 2', async () => {
  const env = { ...p.env, EMETH_KEY: devKey(DEV_ROLES.requester), EMETH_LOG_LEVEL: 'warn' };
  const run = (args: string[]) => runCliToEnd(args, env);
  const created = await run([
    'lease',
    'create',
    '--nodes',
    '1',
    '--seconds',
    String(4 * PERIOD_S),
    '--hourly-price',
    '900',
  ]);
  expect(created.code).toBe(0);
  const id = /lease (0x[0-9a-f]{64})/.exec(created.out)![1]!;
  expect(created.out).toMatch(/1 cpu node\(s\) × 4 period\(s\) of 5 s at 1\.25 EMETH per node per period/);
  await until(id, (l) => l.status === 'active' && l.nodes[0]?.paidPeriods === 1);
  const status = await run(['lease', 'status', id]);
  expect(status.code).toBe(0);
  expect(status.out).toMatch(/: active/);
  expect(status.out).toMatch(/1 period\(s\) paid/);
  const ended = await run(['lease', 'end', id]);
  expect(ended.code).toBe(0);
  const end = await until(id, (l) => l.status === 'ended');
  expect(BigInt(end.charged) + BigInt(end.refunded)).toBe(4n * PER_PERIOD);
  expect(BigInt(end.refunded)).toBeGreaterThan(0n);

  const wrong = await run(['lease', 'create', '--nodes', '1', '--hours', '1']);
  expect(wrong.code).toBe(2);
  expect(wrong.out).toMatch(/needs --hourly-price/);
  const notAnId = await run(['lease', 'status', 'abc']);
  expect(notAnId.code).toBe(2);
  expect(notAnId.out).toMatch(/is not a lease id/);
});
