import { ZeroAddress, type Log, type LogDescription, type Provider } from 'ethers';
import { hashTicket, type Ticket } from '../../lib/tickets';
import { emethCore, emethToken } from '../../contracts/typed';
import type { PrismaClient } from '../../prisma/client';
import { TERMINAL_JOB_STATUSES } from '../../lib/types';

/**
 * Money conservation, checked from chain state and events (and, given the L2's database, from its
 * rows). Reusable by any test that moves money: it returns every violated invariant as a sentence,
 * so `expect(report.violations).toEqual([])` shows all of them at once.
 *
 * On chain:
 *  - EmethCore's token balance == Σ deposits + Σ stakes + Σ escrow. Deposits are `Deposit.balance`
 *    (per-requester committed amounts and pending withdrawals are parts of it, not new tokens);
 *    stakes are `Node.stake` (attempt locks and L1 SubJob deposits are parts of it) plus
 *    `Node.unstaking` (requested, still held until `unstake`); escrow is what each L1 Job still holds.
 *  - totalSupply == minted − burned, from Transfer events from/to the zero address; the contract's
 *    `totalBurned` == what EmethCore itself sent to the zero address (penalties are its only burns).
 *  - No ticket redeemed twice: TicketRedeemed unique per (root, leaf index); per SubJob, its node
 *    paid by one redemption at most and its verifier by one at most (each has its own ticket).
 *  - No penalty burned twice: L2PenaltyBurned unique per reason id.
 * In the database (when `prisma` is given):
 *  - every Job row terminal (and every id in `jobIds` has a row: no Job lost), none of its attempts open;
 *  - every SubJob of a completed Job verified;
 *  - Σ tickets (amount + verifier fee) of each Job == its charged amount;
 *  - every redemption on chain is a ticket the L2 issued (its EIP-712 hash is a row's id): same
 *    payees, same amounts.
 */
export interface ConservationInput {
  provider: Provider;
  deployment: { token: string; core: string };
  prisma?: PrismaClient;
  /** Jobs the test submitted: each must have a row, and be terminal. */
  jobIds?: string[];
}

export interface ConservationReport {
  coreBalance: bigint;
  deposits: bigint;
  stakes: bigint;
  escrow: bigint;
  totalSupply: bigint;
  minted: bigint;
  burned: bigint;
  totalBurned: bigint;
  redemptions: number;
  /** Σ amount + verifier fee over TicketRedeemed events. */
  redeemed: bigint;
  jobs: number;
  violations: string[];
}

const big = (d: { toFixed(n: number): string } | null | undefined): bigint =>
  d === null || d === undefined ? 0n : BigInt(d.toFixed(0));

export async function checkConservation(input: ConservationInput): Promise<ConservationReport> {
  const { provider, deployment } = input;
  const core = emethCore(deployment.core, provider);
  const token = emethToken(deployment.token, provider);
  const violations: string[] = [];
  const logs = async (address: string): Promise<Log[]> =>
    provider.getLogs({ address, fromBlock: 0, toBlock: 'latest' });
  const [coreLogs, tokenLogs] = await Promise.all([logs(deployment.core), logs(deployment.token)]);
  const coreEvents = coreLogs.flatMap((l) => {
    const parsed = core.interface.parseLog(l);
    return parsed ? [parsed] : [];
  });
  const eventsNamed = (name: string) => coreEvents.filter((e) => e.name === name);

  // Everyone who can hold money in EmethCore is named by an event: a deposit, a node registration, an L1 Job.
  const requesters = new Set(eventsNamed('Deposited').map((e) => String(e.args.requester).toLowerCase()));
  const nodes = new Set(eventsNamed('NodeRegistered').map((e) => String(e.args.node).toLowerCase()));
  const l1Jobs = new Set(eventsNamed('JobRequested').map((e) => String(e.args.jobId)));

  let deposits = 0n;
  for (const r of requesters) deposits += (await core.getDeposit(r)).balance;
  let stakes = 0n;
  for (const n of nodes) {
    const node = await core.getNode(n);
    stakes += node.stake + node.unstaking;
  }
  let escrow = 0n;
  for (const j of l1Jobs) escrow += (await core.getJob(j)).escrow;
  const coreBalance = await token.balanceOf(deployment.core);
  if (coreBalance !== deposits + stakes + escrow)
    violations.push(
      `EmethCore holds ${coreBalance} holon but deposits ${deposits} + stakes ${stakes} + escrow ${escrow} = ${deposits + stakes + escrow} (difference ${coreBalance - (deposits + stakes + escrow)})`,
    );

  // Supply: minted − burned, from the token's own Transfer events.
  let minted = 0n;
  let burned = 0n;
  let burnedByCore = 0n;
  for (const l of tokenLogs) {
    const e = token.interface.parseLog(l);
    if (e?.name !== 'Transfer') continue;
    const from = String(e.args.from).toLowerCase();
    const to = String(e.args.to).toLowerCase();
    const value = BigInt(e.args.value);
    if (from === ZeroAddress) minted += value;
    if (to === ZeroAddress) {
      burned += value;
      if (from === deployment.core.toLowerCase()) burnedByCore += value;
    }
  }
  const totalSupply = await token.totalSupply();
  if (totalSupply !== minted - burned)
    violations.push(
      `totalSupply is ${totalSupply} but minted ${minted} − burned ${burned} = ${minted - burned}`,
    );
  const totalBurned = await core.totalBurned();
  if (totalBurned !== burnedByCore)
    violations.push(
      `EmethCore.totalBurned is ${totalBurned} but EmethCore sent ${burnedByCore} to the zero address`,
    );

  // Redemptions: each leaf paid once; each SubJob's node and verifier paid once each.
  const redeemedEvents = eventsNamed('TicketRedeemed');
  const leaves = new Map<string, number>();
  const payments = new Map<string, number>();
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  let redeemed = 0n;
  for (const e of redeemedEvents) {
    count(leaves, `${String(e.args.root)}#${String(e.args.index)}`);
    const sub = String(e.args.subJobId);
    if (BigInt(e.args.amount) > 0n) count(payments, `SubJob ${sub}'s node`);
    if (BigInt(e.args.verifierFee) > 0n) count(payments, `SubJob ${sub}'s verifier`);
    redeemed += BigInt(e.args.amount) + BigInt(e.args.verifierFee);
  }
  for (const [leaf, n] of leaves) if (n > 1) violations.push(`ticket leaf ${leaf} redeemed ${n} times`);
  for (const [who, n] of payments) if (n > 1) violations.push(`${who} paid ${n} times`);
  const penalties = new Map<string, number>();
  for (const e of eventsNamed('L2PenaltyBurned')) {
    const id = String(e.args.reasonId);
    penalties.set(id, (penalties.get(id) ?? 0) + 1);
  }
  for (const [id, n] of penalties) if (n > 1) violations.push(`L2 penalty ${id} burned ${n} times`);

  let jobs = 0;
  if (input.prisma) jobs = await checkRows(input.prisma, input.jobIds ?? [], redeemedEvents, violations);

  return {
    coreBalance,
    deposits,
    stakes,
    escrow,
    totalSupply,
    minted,
    burned,
    totalBurned,
    redemptions: redeemedEvents.length,
    redeemed,
    jobs,
    violations,
  };
}

async function checkRows(
  prisma: PrismaClient,
  jobIds: string[],
  redemptions: LogDescription[],
  violations: string[],
): Promise<number> {
  const rows = await prisma.job.findMany({ include: { subJobs: true } });
  const byId = new Map(rows.map((j) => [j.id, j]));
  for (const id of jobIds)
    if (!byId.has(id)) violations.push(`Job ${id} was submitted but has no row (lost)`);
  const tickets = await prisma.ticket.findMany();
  for (const job of rows) {
    if (!(TERMINAL_JOB_STATUSES as readonly string[]).includes(job.status))
      violations.push(`Job ${job.id} is ${job.status}, not terminal`);
    if ((TERMINAL_JOB_STATUSES as readonly string[]).includes(job.status)) {
      // An attempt left open holds its node's stake lock and its SubJob's place for good.
      const open = await prisma.attempt.findMany({ where: { outcome: null, subJob: { jobId: job.id } } });
      for (const a of open)
        violations.push(`attempt ${a.id} (node ${a.nodeId}) of ${job.status} Job ${job.id} is still open`);
    }
    if (job.status === 'completed') {
      for (const s of job.subJobs)
        if (s.status !== 'verified')
          violations.push(`SubJob ${s.id} (index ${s.index}) of completed Job ${job.id} is ${s.status}`);
    }
    const ticketed = tickets
      .filter((t) => t.jobId === job.id)
      .reduce((a, t) => a + big(t.amount) + big(t.verifierFee), 0n);
    if (ticketed !== big(job.charged))
      violations.push(
        `Job ${job.id}: tickets sum to ${ticketed} holon but the Job charged ${big(job.charged)}`,
      );
  }
  // A row's id is its ticket's EIP-712 struct hash: a redeemed ticket that differs from every issued
  // one in any field (payee, amount) hashes to no row.
  const issued = new Set(tickets.map((t) => t.id.toLowerCase()));
  for (const r of redemptions) {
    const t: Ticket = {
      jobId: String(r.args.jobId),
      subJobId: String(r.args.subJobId),
      node: String(r.args.node),
      requester: String(r.args.requester),
      amount: BigInt(r.args.amount),
      verifier: String(r.args.verifier),
      verifierFee: BigInt(r.args.verifierFee),
    };
    if (!issued.has(hashTicket(t).toLowerCase()))
      violations.push(
        `SubJob ${t.subJobId}: redeemed ${t.amount} holon to node ${t.node} and ${t.verifierFee} to verifier ${t.verifier}, a ticket the L2 never issued`,
      );
  }
  return rows.length;
}
