/**
 * A verifier is paid by its own ticket, not inside the node's (issue 12, item 5): per verified
 * SubJob the L2 issues a ticket to its node (fuel × price) and one to its verifier (the fee share),
 * and the verifier process redeems its own. Real stack: Temporal, PostgreSQL, anvil; the L2 server,
 * a node and the verifier as processes.
 */
import fs from 'node:fs';
import { NonceManager, Wallet } from 'ethers';
import { EMETH } from '../../lib/fees';
import { createLogger } from '../../lib/logger';
import { bindRequestScope, requestScope } from '../../lib/request-auth';
import { createRedeemer } from '../../workers/shared/redeemer';
import { checkConservation } from '../support/conservation';
import { TestPipeline } from '../support/pipeline';

jest.setTimeout(240_000);

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
});
afterAll(() => p?.stop());

const big = (d: { toFixed(n: number): string }): bigint => BigInt(d.toFixed(0));

it("the verifier's fee arrives while the node never redeems; the node's later redemption pays the node only", async () => {
  // A node that holds its tickets back: no ticket clears 10^30 holon per unit of gas, and it would
  // wait a day before redeeming anyway.
  const node = await p.startNode({
    capabilityClass: 'holdout',
    minHolonPerGas: 10n ** 30n,
    redeemMaxWaitSeconds: 86_400,
  });
  const requester = await p.requester.getAddress();
  const verifier = p.config.l2.verifiers[0]!;
  const before = {
    node: await p.balanceOf(node.address),
    verifier: await p.balanceOf(verifier),
    deposit: await p.depositOf(requester),
  };

  const { job, fuelPrice } = await p.submit({ rows: 600, numParallel: 2, capabilityClass: 'holdout' });
  const done = await p.waitForEnd(job.id);
  expect(done.status).toBe('completed');
  const subs = await p.db.prisma.subJob.findMany({ where: { jobId: job.id } });
  expect(subs.map((s) => [s.status, s.nodeId])).toEqual([
    ['verified', node.address],
    ['verified', node.address],
  ]);
  const fuel = subs.reduce((a, s) => a + big(s.fuelUsed!) * fuelPrice, 0n);
  const fees = subs.reduce((a, s) => a + big(s.verifierFee), 0n);
  expect(fees).toBeGreaterThan(0n);
  expect(BigInt(done.fees.charged)).toBe(fuel + fees);

  // Two tickets per SubJob, each paying one party.
  const tickets = await p.db.prisma.ticket.findMany({ where: { jobId: job.id } });
  const ofRole = (role: string) => tickets.filter((t) => t.role === role);
  expect(ofRole('node').map((t) => [t.node, big(t.verifierFee)])).toEqual([
    [node.address, 0n],
    [node.address, 0n],
  ]);
  expect(ofRole('node').reduce((a, t) => a + big(t.amount), 0n)).toBe(fuel);
  expect(ofRole('verifier').map((t) => [t.verifier, big(t.amount)])).toEqual([
    [verifier, 0n],
    [verifier, 0n],
  ]);
  expect(ofRole('verifier').reduce((a, t) => a + big(t.verifierFee), 0n)).toBe(fees);

  // The verifier redeems its fee tickets by itself: its balance rises by exactly its fee share.
  await p.waitForRedemptions(job.id, 60_000, 'verifier');
  expect((await p.balanceOf(verifier)) - before.verifier).toBe(fees);
  expect((await p.balanceOf(node.address)) - before.node).toBe(0n);
  expect(before.deposit - (await p.depositOf(requester))).toBe(fees);
  const batches = new Map((await p.db.prisma.batch.findMany()).map((b) => [b.id, b.root]));
  const nodeTickets = await p.db.prisma.ticket.findMany({ where: { jobId: job.id, role: 'node' } });
  for (const t of nodeTickets) {
    expect(t.batchId).not.toBeNull(); // signed and redeemable: the node chose not to
    expect(await p.core().isRedeemed(batches.get(t.batchId!)!, t.leafIndex!)).toBe(false);
  }
  // The node did look at its tickets (its redeemer is on) and held them back.
  const deadline = Date.now() + 30_000;
  const held = () =>
    fs.readFileSync(node.logFile, 'utf8').includes('"msg":"tickets below the gas threshold; waiting"');
  while (!held() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  expect(held()).toBe(true);

  // Later the node (stopped now, so its own loop cannot race) redeems with the same redeemer code:
  // it gets its fuel, the verifier nothing more.
  await node.process.stop('SIGTERM', 10_000);
  const signer = bindRequestScope(
    new NonceManager(new Wallet(node.wallet.privateKey, p.chain.provider)),
    requestScope(p.config.gateway.url, p.chain.deployment.chainId),
  );
  const redeemer = createRedeemer({
    gatewayUrl: p.config.gateway.url,
    signer,
    deployment: p.chain.deployment,
    logger: createLogger('silent'),
  });
  expect(await redeemer.redeemOnce()).toEqual({ redeemed: 2, amount: fuel });
  expect((await p.balanceOf(node.address)) - before.node).toBe(fuel);
  expect((await p.balanceOf(verifier)) - before.verifier).toBe(fees);
  expect(before.deposit - (await p.depositOf(requester))).toBe(fuel + fees);
  await p.waitForRedemptions(job.id, 10_000);
  // Nothing left to redeem for the node: the fetch after the redemption leaves it out on chain.
  expect(await redeemer.redeemOnce()).toEqual({ redeemed: 0, amount: 0n });

  // Every holon accounted for, each SubJob's node and verifier paid once, each by a ticket the L2 issued.
  const report = await checkConservation({
    provider: p.chain.provider,
    deployment: p.chain.deployment,
    prisma: p.db.prisma,
    jobIds: [job.id],
  });
  expect(report.violations).toEqual([]);
  expect(report.redemptions).toBe(4);
  expect(report.redeemed).toBe(fuel + fees);
});
