import { Wallet } from 'ethers';
import { EMETH } from '../../lib/fees';
import { ONNX_INFERENCE_SPEC } from '../../lib/programs';
import { fineOf, verdictFineOf } from '../../lib/verification-policy';
import { TestPipeline } from '../support/pipeline';
import type { ManagedProcess } from '../../cli/stack/child';

// A verifier is a stranger too (issue 12 item 5). Against a real stack: a lying verifier that
// alone serves the shared queue of first verdicts signs every verdict properly, but without
// checking. Each of its verdicts is re-checked by a second verifier (the audit rate is 1 here;
// every rejection is audited anyway), the disagreement goes to a third, and the liar pays
// verdictFineOf from its stake, half of it to the verifier it was overruled in favour of.
jest.setTimeout(420_000);

const policy = ONNX_INFERENCE_SPEC.verification;
const STAKE = 100n * EMETH;
const approver = Wallet.createRandom();
const rejecter = Wallet.createRandom();
const honest = [Wallet.createRandom(), Wallet.createRandom()];
const address = (w: { address: string }) => w.address.toLowerCase();

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start({
    env: {
      EMETH_VERIFIERS: [approver, rejecter, ...honest].map((w) => w.address).join(','),
      EMETH_VERIFY_VERDICT_AUDIT_RATE: '1',
    },
  });
  await p.deposit(100n * EMETH);
  // The honest verifiers serve only audits and disputes: every first verdict is the liar's.
  for (const w of honest) await p.startVerifier({ wallet: w, auditOnly: true });
});
afterAll(() => p?.stop());

const feeLimitOf = (s: {
  fuelLimit: { toFixed(d: number): string };
  job: { fuelPrice: { toFixed(d: number): string } };
}) => BigInt(s.fuelLimit.toFixed(0)) * BigInt(s.job.fuelPrice.toFixed(0));

async function auditsOf(jobId: string) {
  const subJobs = await p.db.prisma.subJob.findMany({ where: { jobId }, include: { job: true } });
  const audits = await p.db.prisma.verdictAudit.findMany({
    where: { subJobId: { in: subJobs.map((s) => s.id) } },
    orderBy: { createdAt: 'asc' },
  });
  return { audits, feeLimit: feeLimitOf(subJobs[0]!) };
}

describe('a wrong verdict is caught by the audit and fined', () => {
  let liar: ManagedProcess | undefined;
  afterEach(async () => {
    await liar?.stop();
    liar = undefined;
  });

  it('reject-all: an honest result it rejects is upheld by the referee; the liar pays, the node does not', async () => {
    liar = await p.startVerifier({ wallet: rejecter, behaviour: 'reject-all' });
    const node = await p.startNode({ capabilityClass: 'audit-honest' });
    const nodeStake = await p.stakeOf(node.address);
    const liarStake = await p.stakeOf(rejecter.address);
    expect(liarStake).toBe(STAKE);
    const proverStakes = await Promise.all(honest.map((w) => p.stakeOf(w.address)));

    const { job } = await p.submit({ rows: 100, numParallel: 1, capabilityClass: 'audit-honest' });
    const done = await p.waitForEnd(job.id, 300_000);
    expect(done.status).toBe('completed');

    const { audits, feeLimit } = await auditsOf(job.id);
    expect(audits).toHaveLength(1);
    const [a] = audits;
    expect(a).toMatchObject({
      verifier: address(rejecter),
      valid: false,
      auditValid: true,
      refereeValid: true,
      upheld: true,
      wrongVerifier: address(rejecter),
    });
    const fine = verdictFineOf(policy, feeLimit);
    expect(BigInt(a!.fine!.toFixed(0))).toBe(fine);
    expect(await p.stakeOf(rejecter.address)).toBe(liarStake - fine);
    // Half the fine to the auditor whose verdict the referee upheld; the referee's stake is unchanged.
    const auditorIndex = honest.findIndex((w) => address(w) === a!.auditor);
    expect(auditorIndex).toBeGreaterThanOrEqual(0);
    expect(await p.stakeOf(honest[auditorIndex]!.address)).toBe(proverStakes[auditorIndex]! + fine / 2n);
    expect(await p.stakeOf(honest[1 - auditorIndex]!.address)).toBe(proverStakes[1 - auditorIndex]!);

    // The honest node's result stood: verified on its first attempt, nothing taken from its stake.
    const attempts = await p.db.prisma.attempt.findMany({ where: { subJob: { jobId: job.id } } });
    expect(attempts.map((x) => [x.nodeId, x.outcome])).toEqual([[node.address, 'verified']]);
    expect(await p.stakeOf(node.address)).toBe(nodeStake);
    // The verdict recorded, and paid by the verifier's ticket, is the auditor's, not the liar's.
    const verification = await p.db.prisma.verification.findFirstOrThrow({ where: { subJobId: a!.subJobId } });
    expect([verification.verifier, verification.valid]).toEqual([a!.auditor, true]);
    const fees = await p.db.prisma.ticket.findMany({ where: { subJobId: a!.subJobId, role: 'verifier' } });
    expect(fees.map((t) => t.verifier)).toEqual([a!.auditor]);
  });

  it('approve-all waving a lazy node through: the audit rejects, the liar and the node are fined, the SubJob redone', async () => {
    liar = await p.startVerifier({ wallet: approver, behaviour: 'approve-all' });
    const lazy = await p.startNode({ capabilityClass: 'audit-lazy', behaviour: 'lazy' });
    const lazyStake = await p.stakeOf(lazy.address);
    const liarStake = await p.stakeOf(approver.address);
    const proverStakes = await Promise.all(honest.map((w) => p.stakeOf(w.address)));

    const { job } = await p.submit({ rows: 100, numParallel: 1, capabilityClass: 'audit-lazy' });
    await p.waitForAttempt(job.id, 'rejected', 240_000);
    const redo = await p.startNode({ capabilityClass: 'audit-lazy' });
    const done = await p.waitForEnd(job.id, 300_000);
    expect(done.status).toBe('completed');

    const { audits, feeLimit } = await auditsOf(job.id);
    // The lie, and then the honest redo (the liar's "valid" is right this time, and the audit agrees).
    expect(audits.map((a) => [a.node, a.valid, a.auditValid, a.upheld, a.wrongVerifier])).toEqual([
      [lazy.address, true, false, false, address(approver)],
      [redo.address, true, true, true, null],
    ]);
    const [lie] = audits;
    const verdictFine = verdictFineOf(policy, feeLimit);
    const nodeFine = fineOf(policy, feeLimit);
    expect(await p.stakeOf(approver.address)).toBe(liarStake - verdictFine);
    expect(await p.stakeOf(lazy.address)).toBe(lazyStake - nodeFine);
    // The auditor proved both lies: half of each fine is added to its stake.
    const i = honest.findIndex((w) => address(w) === lie!.auditor);
    expect(await p.stakeOf(honest[i]!.address)).toBe(proverStakes[i]! + verdictFine / 2n + nodeFine / 2n);
    const rejected = await p.db.prisma.attempt.findFirstOrThrow({
      where: { subJob: { jobId: job.id }, outcome: 'rejected' },
    });
    expect([rejected.nodeId, BigInt(rejected.penalty!.toFixed(0))]).toEqual([lazy.address, nodeFine]);
    expect(await p.db.prisma.ticket.count({ where: { jobId: job.id, node: lazy.address } })).toBe(0);
  });
});
