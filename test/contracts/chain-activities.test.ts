/**
 * activities/chain/ (account and L1 activities) against a real anvil: the L1 flow through the activities of each role,
 * retries that are safe to repeat, concurrent sends of one signer, and errors that name the rule.
 */
import { createChainActivities, type ChainActivities } from '../../activities/chain';
import { ContractRevertError } from '../../contracts/errors';
import { EMETH, GHOLON, quote } from '../../lib/fees';
import { TicketTree, emethDomain, serializeTicket, signBatch, type Ticket } from '../../lib/tickets';
import { JobStatus, SubJobStatus } from '../../lib/types-chain';
import { commitFor, id32, startHarness, type Harness } from './harness';

jest.setTimeout(120_000);

let h: Harness;
let requester: ChainActivities, server: ChainActivities, node: ChainActivities, verifier: ChainActivities;

beforeAll(async () => {
  h = await startHarness();
  // Each activity set wraps its own fresh signer, as a worker would (not the harness's).
  const make = (name: string) =>
    createChainActivities({ provider: h.provider, signer: h.actor(name).wallet, deployment: h.deployment });
  [requester, server, node, verifier] = ['requester', 'server', 'node', 'verifier'].map(make) as [
    ChainActivities,
    ChainActivities,
    ChainActivities,
    ChainActivities,
  ];
});
afterAll(async () => h?.stop());

const FUEL = 120_000n;
const PRICE = 120n * GHOLON;

async function deadline(): Promise<number> {
  return Number(await h.now()) + 86_400;
}

it('runs request → split → process → submit → verify, and every step is safe to repeat', async () => {
  const jobId = id32('act-1');
  const input = {
    jobId,
    programId: 1,
    fuelLimit: FUEL.toString(),
    fuelPrice: PRICE,
    deadline: await deadline(),
    dataset: id32('d'),
  };
  expect((await requester.requestJob(input)).alreadyDone).toBe(false);
  expect((await requester.requestJob(input)).alreadyDone).toBe(true);
  expect((await server.registerSubJobs(jobId, ['1'])).alreadyDone).toBe(false);
  expect((await server.registerSubJobs(jobId, ['1'])).alreadyDone).toBe(true);
  expect(
    (await node.registerNode({ stake: 10n * EMETH, encryptionKey: id32('k'), capabilityClass: 1 }))
      .alreadyDone,
  ).toBe(false);
  expect(
    (await node.registerNode({ stake: 10n * EMETH, encryptionKey: id32('k'), capabilityClass: 1 }))
      .alreadyDone,
  ).toBe(true);
  expect((await node.processSubJob(jobId, 0)).alreadyDone).toBe(false);
  expect((await node.processSubJob(jobId, 0)).alreadyDone).toBe(true);
  expect((await node.submitResult(jobId, 0, id32('r'), 100_000n)).alreadyDone).toBe(false);
  expect((await node.submitResult(jobId, 0, id32('r'), 100_000n)).alreadyDone).toBe(true);
  const before = BigInt(await node.balanceOf());
  const v = await verifier.verifySubJob(jobId, 0);
  expect(v.alreadyDone).toBe(false);
  expect(Number(v.gasUsed)).toBeGreaterThan(21_000);
  expect((await verifier.verifySubJob(jobId, 0)).alreadyDone).toBe(true);
  expect(BigInt(await node.balanceOf()) - before).toBe(quote(FUEL, PRICE, 100_000n).nodePayout);
  const j = await requester.getJob(jobId);
  expect([j?.status, j?.escrow]).toEqual([JobStatus.Finished, '0']);
  expect(await requester.getJob(id32('nope'))).toBeNull();
});

it('decline/reject/timeout are idempotent by attempt', async () => {
  const jobId = id32('act-2');
  await requester.requestJob({
    jobId,
    programId: 1,
    fuelLimit: FUEL,
    fuelPrice: PRICE,
    deadline: await deadline(),
    dataset: id32('d'),
  });
  await server.registerSubJobs(jobId, [1n]);
  await node.processSubJob(jobId, 0);
  expect((await node.declineSubJob(jobId, 0, 0)).alreadyDone).toBe(false);
  expect((await node.declineSubJob(jobId, 0, 0)).alreadyDone).toBe(true);
  await node.processSubJob(jobId, 0);
  await node.submitResult(jobId, 0, id32('bad'), 1n);
  expect((await verifier.rejectSubJob(jobId, 0, 1)).alreadyDone).toBe(false);
  expect((await verifier.rejectSubJob(jobId, 0, 1)).alreadyDone).toBe(true);
  const s = await verifier.getSubJob(jobId, 0);
  expect([s.status, s.retries, s.node]).toEqual([SubJobStatus.Open, 2, null]);
  await expect(verifier.rejectSubJob(jobId, 0, 2)).rejects.toThrow(
    /reject of SubJob .* attempt 2: the SubJob is Open/,
  );
});

it('serializes concurrent sends of one signer (no nonce collisions)', async () => {
  const d = await deadline();
  const ids = Array.from({ length: 12 }, (_, i) => id32(`conc-${i}`));
  const results = await Promise.all(
    ids.map((jobId) =>
      requester.requestJob({
        jobId,
        programId: 2,
        fuelLimit: 10n,
        fuelPrice: 1n,
        deadline: d,
        dataset: id32('d'),
      }),
    ),
  );
  expect(results.every((r) => !r.alreadyDone && r.txHash)).toBe(true);
  const jobs = await Promise.all(ids.map((id) => requester.getJob(id)));
  expect(jobs.every((j) => j?.status === JobStatus.Requested)).toBe(true);
});

it('a failed estimate does not burn a nonce: the next send still goes through', async () => {
  await expect(requester.cancelJob(id32('unknown-job'))).rejects.toThrow(ContractRevertError);
  const r = await requester.requestJob({
    jobId: id32('after-fail'),
    programId: 1,
    fuelLimit: 1n,
    fuelPrice: 1n,
    deadline: await deadline(),
    dataset: id32('d'),
  });
  expect(r.alreadyDone).toBe(false);
});

it('names the reverted rule with its arguments', async () => {
  const jobId = id32('act-3');
  await requester.requestJob({
    jobId,
    programId: 1,
    fuelLimit: FUEL,
    fuelPrice: PRICE,
    deadline: await deadline(),
    dataset: id32('d'),
  });
  await server.registerSubJobs(jobId, [1n]);
  await node.processSubJob(jobId, 0);
  const err = await node.submitResult(jobId, 0, id32('r'), FUEL + 1n).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ContractRevertError);
  expect((err as Error).message).toBe(
    `EmethCore reverted: FuelUsedExceedsLimit(fuelUsed=${FUEL + 1n}, fuelLimit=${FUEL}) during submit`,
  );
  expect((err as ContractRevertError).errorName).toBe('FuelUsedExceedsLimit');
  const unknown = await requester.cancelJob(id32('missing')).catch((e: unknown) => e);
  expect((unknown as Error).message).toBe(
    `EmethCore reverted: UnknownJob(jobId=${id32('missing')}) during cancel`,
  );
});

it('redeemTickets redeems a subset, then the rest, and a retry redeems nothing twice', async () => {
  const r = h.actor('requester');
  await requester.ensureAllowance(EMETH);
  expect((await requester.ensureDeposit(5n * EMETH)).deposited).toBe((5n * EMETH).toString());
  expect((await requester.ensureDeposit(5n * EMETH)).alreadyDone).toBe(true);
  const nodeAddr = await node.address();
  const tickets: Ticket[] = Array.from({ length: 6 }, (_, i) => ({
    jobId: id32('l2'),
    subJobId: id32(`l2-${i}`),
    node: nodeAddr,
    requester: r.address,
    amount: 10n ** 15n,
    verifier: h.actor('verifier').address,
    verifierFee: 10n ** 14n,
  }));
  // The L2 commits what the Job's tickets spend (the requester signs; admin holds the L2 role).
  await commitFor(h, r, id32('l2'), 6n * 11n * 10n ** 14n, undefined, h.admin);
  expect((await requester.getDeposit()).committed).toBe((6n * 11n * 10n ** 14n).toString());
  const tree = new TicketTree(tickets);
  const batch = tree.batch(1n);
  const signature = await signBatch(
    h.actor('signer').wallet,
    emethDomain(h.deployment.chainId, h.deployment.core),
    batch,
  );
  const input = {
    batch: { batchId: '1', root: batch.root, total: batch.total.toString() },
    signature,
    tickets: tickets.map(serializeTicket),
  };
  const before = BigInt(await node.balanceOf());
  const first = await node.redeemTickets({ ...input, indices: [1, 4] });
  expect([first.redeemed, first.skipped]).toEqual([[1, 4], []]);
  const rest = await node.redeemTickets(input);
  expect([rest.redeemed, rest.skipped]).toEqual([
    [0, 2, 3, 5],
    [1, 4],
  ]);
  const again = await node.redeemTickets(input);
  expect([again.alreadyDone, again.redeemed]).toEqual([true, []]);
  const single = await node.redeemTickets({ ...input, indices: [0] });
  expect(single.alreadyDone).toBe(true);
  expect(BigInt(await node.balanceOf()) - before).toBe(6n * 10n ** 15n);
  expect((await requester.getDeposit()).balance).toBe((5n * EMETH - 6n * 11n * 10n ** 14n).toString());
  await requester.requestWithdrawal(EMETH);
  expect((await requester.getDeposit()).free).toBe((4n * EMETH - 6n * 11n * 10n ** 14n).toString());
});
