/**
 * EmethCore L2 (SPEC §5): deposits, delayed withdrawals, signed ticket batches, redemption, and
 * the attacks on them — each must revert with a named custom error.
 */
import {
  commitFor,
  commitTickets,
  expectRevert,
  id32,
  mined,
  startHarness,
  trackBalances,
  type Actor,
  type Harness,
} from './harness';
import { EMETH, GHOLON } from '../../lib/fees';
import type { EmethBase } from '../../contracts/typed';
import { signCommit } from '../../activities/chain/commitments';
import {
  TicketTree,
  batchDigest,
  emethDomain,
  hashTicket,
  recoverBatchSigner,
  signBatch,
  subJobTickets,
  ticketLeaf,
  type Batch,
  type Ticket,
} from '../../lib/tickets';

jest.setTimeout(120_000);

let h: Harness;
let requester: Actor,
  requester2: Actor,
  node: Actor,
  node2: Actor,
  verifier: Actor,
  signer: Actor,
  outsider: Actor,
  admin: Actor;
let snap: string;
let seq = 0;
const DEPOSIT = 10n * EMETH;

beforeAll(async () => {
  h = await startHarness();
  [requester, requester2, node, node2, verifier, signer, outsider, admin] = [
    'requester',
    'requester2',
    'node',
    'node2',
    'verifier',
    'signer',
    'outsider',
    'admin',
  ].map((n) => h.actor(n)) as unknown as [Actor, Actor, Actor, Actor, Actor, Actor, Actor, Actor];
  await mined(requester.core.deposit(DEPOSIT));
  await mined(requester2.core.deposit(DEPOSIT));
});
afterAll(async () => h?.stop());
beforeEach(async () => {
  snap = await h.snapshot();
});
afterEach(async () => {
  await h.revert(snap);
});

function domain() {
  return emethDomain(h.deployment.chainId, h.deployment.core);
}

function ticket(overrides: Partial<Ticket> = {}): Ticket {
  seq++;
  return {
    jobId: id32(`job-${seq}`),
    subJobId: id32(`sub-${seq}`),
    node: node.address,
    requester: requester.address,
    amount: 12_000_000n * GHOLON,
    verifier: verifier.address,
    verifierFee: 720_000n * GHOLON,
    ...overrides,
  };
}

/** Signs a batch of `tickets`; by default first commits what each of their Jobs spends, as the L2 does. */
async function signed(tickets: Ticket[], by: Actor = signer, dom = domain(), commit = true) {
  if (commit) await commitTickets(h, tickets);
  const tree = new TicketTree(tickets);
  const batch = tree.batch(BigInt(++seq));
  const signature = await signBatch(by.wallet, dom, batch);
  return { tree, batch, signature };
}

/** The batch as EmethCore's `Batch` struct argument. */
function asArgs(b: Batch): EmethBase.BatchStruct {
  return { batchId: b.batchId, root: b.root, total: b.total };
}

describe('hashing agrees with the contract', () => {
  it('hashTicket, the leaf and the batch digest are the same off-chain and on-chain', async () => {
    const t = ticket();
    expect(await admin.core.hashTicket(t)).toBe(hashTicket(t));
    const { tree, batch, signature } = await signed([t, ticket()]);
    expect(tree.tree.leafHash([hashTicket(t), 0n])).toBe(ticketLeaf(t, 0));
    expect(await admin.core.batchDigest(asArgs(batch))).toBe(batchDigest(domain(), batch));
    expect(recoverBatchSigner(domain(), batch, signature)).toBe(signer.address);
  });
});

describe('deposits and withdrawals', () => {
  it('deposit adds to the balance; requestWithdrawal earmarks; withdraw pays after the delay', async () => {
    const t = await trackBalances(h, { r: requester.address, core: h.deployment.core });
    await mined(requester.core.deposit(5n * EMETH));
    expect((await requester.core.getDeposit(requester.address)).balance).toBe(DEPOSIT + 5n * EMETH);
    await expectRevert(requester.core.requestWithdrawal(DEPOSIT + 6n * EMETH), 'InsufficientFreeDeposit', [
      requester.address,
      DEPOSIT + 6n * EMETH,
      DEPOSIT + 5n * EMETH,
    ]);
    await mined(requester.core.requestWithdrawal(5n * EMETH));
    expect(await requester.core.freeDeposit(requester.address)).toBe(DEPOSIT);
    await expectRevert(requester.core.requestWithdrawal(DEPOSIT + 1n), 'InsufficientFreeDeposit');
    await expectRevert(requester.core.withdraw(), 'WithdrawalNotReady');
    await h.increaseTime(3600);
    await mined(requester.core.withdraw());
    expect(await t.deltas()).toEqual({ r: 0n, core: 0n });
    const d = await requester.core.getDeposit(requester.address);
    expect([d.balance, d.pendingWithdrawal]).toEqual([DEPOSIT, 0n]);
    await expectRevert(requester.core.withdraw(), 'NoPendingWithdrawal', [requester.address]);
  });

  it('cancelWithdrawal frees the earmarked amount again', async () => {
    await mined(requester.core.requestWithdrawal(EMETH));
    await mined(requester.core.cancelWithdrawal());
    expect(await requester.core.freeDeposit(requester.address)).toBe(DEPOSIT);
    await expectRevert(requester.core.cancelWithdrawal(), 'NoPendingWithdrawal');
  });
});

describe('redeem', () => {
  it('pays node and verifier from the requester deposit and marks the leaf redeemed', async () => {
    const tickets = [ticket(), ticket({ node: node2.address }), ticket()];
    const { tree, batch, signature } = await signed(tickets);
    const t = await trackBalances(h, {
      node: node.address,
      node2: node2.address,
      verifier: verifier.address,
      core: h.deployment.core,
    });
    const tk = tickets[1]!;
    const { gasUsed } = await mined(node2.core.redeem(asArgs(batch), signature, tk, 1, tree.proof(1)));
    expect(await t.deltas()).toEqual({
      node: 0n,
      node2: tk.amount,
      verifier: tk.verifierFee,
      core: -(tk.amount + tk.verifierFee),
    });
    expect((await admin.core.getDeposit(requester.address)).balance).toBe(
      DEPOSIT - tk.amount - tk.verifierFee,
    );
    expect(await admin.core.isRedeemed(batch.root, 1)).toBe(true);
    expect(await admin.core.isRedeemed(batch.root, 0)).toBe(false);
    expect(gasUsed).toBeLessThan(150_000n);
  });

  it('redeemMany pays every payee once, summed, and debits each requester', async () => {
    const tickets = [
      ticket(),
      ticket({ node: node2.address }),
      ticket({ requester: requester2.address, amount: 3n, verifierFee: 1n }),
      ticket({ node: node2.address, requester: requester2.address, verifier: outsider.address }),
      ticket(),
    ];
    const { tree, batch, signature } = await signed(tickets);
    const t = await trackBalances(h, {
      node: node.address,
      node2: node2.address,
      verifier: verifier.address,
      outsider: outsider.address,
    });
    const mp = tree.multiProof([0, 1, 2, 3, 4]);
    await mined(
      outsider.core.redeemMany(asArgs(batch), signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
    );
    const [a, b, c, d, e] = tickets as [Ticket, Ticket, Ticket, Ticket, Ticket];
    expect(await t.deltas()).toEqual({
      node: a.amount + c.amount + e.amount,
      node2: b.amount + d.amount,
      verifier: a.verifierFee + b.verifierFee + c.verifierFee + e.verifierFee,
      outsider: d.verifierFee,
    });
    const spent1 = a.amount + a.verifierFee + b.amount + b.verifierFee + e.amount + e.verifierFee;
    const spent2 = c.amount + c.verifierFee + d.amount + d.verifierFee;
    expect((await admin.core.getDeposit(requester.address)).balance).toBe(DEPOSIT - spent1);
    expect((await admin.core.getDeposit(requester2.address)).balance).toBe(DEPOSIT - spent2);
    expect(batch.total).toBe(spent1 + spent2);
    for (let i = 0; i < 5; i++) expect(await admin.core.isRedeemed(batch.root, i)).toBe(true);
  });

  it('redeemMany of a subset, then the rest', async () => {
    const tickets = Array.from({ length: 9 }, () => ticket());
    const { tree, batch, signature } = await signed(tickets);
    const first = tree.multiProof([2, 5, 7]);
    await mined(
      node.core.redeemMany(
        asArgs(batch),
        signature,
        first.tickets,
        first.indices,
        first.proof,
        first.proofFlags,
      ),
    );
    const rest = tree.multiProof([0, 1, 3, 4, 6, 8]);
    await mined(
      node.core.redeemMany(asArgs(batch), signature, rest.tickets, rest.indices, rest.proof, rest.proofFlags),
    );
    const per = tickets[0]!.amount + tickets[0]!.verifierFee;
    expect((await admin.core.getDeposit(requester.address)).balance).toBe(DEPOSIT - 9n * per);
  });
});

describe('one ticket per payee: a verified SubJob pays its node and its verifier apart', () => {
  /** The L2's tickets for `n` SubJobs of one Job (lib/tickets subJobTickets), run by `nodes` in turn. */
  function subJobs(jobId: string, nodes: string[], n: number) {
    return Array.from({ length: n }, (_, i) => {
      seq++;
      return subJobTickets({
        jobId,
        subJobId: id32(`sub-${seq}`),
        node: nodes[i % nodes.length]!,
        requester: requester.address,
        amount: BigInt(i + 1) * 1_000_000n * GHOLON,
        verifier: verifier.address,
        verifierFee: BigInt(i + 1) * 60_000n * GHOLON,
      });
    });
  }
  const indicesOf = (tickets: { role: string }[], role: string) =>
    tickets.flatMap((t, i) => (t.role === role ? [i] : []));

  it('the verifier redeems its fee tickets alone, before any node; each node ticket then pays its node only', async () => {
    const jobId = id32('split-job');
    const issued = subJobs(jobId, [node.address, node2.address], 3).flat();
    expect(issued.map((t) => t.role)).toEqual(['node', 'verifier', 'node', 'verifier', 'node', 'verifier']);
    const fees = issued.reduce((a, { ticket: t }) => a + t.verifierFee, 0n);
    const amounts = issued.reduce((a, { ticket: t }) => a + t.amount, 0n);
    // The Job's commitment is exactly what its tickets charge: fuel + fee per SubJob, as one ticket was.
    await commitFor(h, requester, jobId, amounts + fees);
    const { tree, batch, signature } = await signed(
      issued.map((t) => t.ticket),
      signer,
      domain(),
      false,
    );
    const t = await trackBalances(h, {
      node: node.address,
      node2: node2.address,
      verifier: verifier.address,
    });

    const mine = tree.multiProof(indicesOf(issued, 'verifier'));
    await mined(
      verifier.core.redeemMany(
        asArgs(batch),
        signature,
        mine.tickets,
        mine.indices,
        mine.proof,
        mine.proofFlags,
      ),
    );
    expect(await t.deltas()).toEqual({ node: 0n, node2: 0n, verifier: fees });
    expect((await admin.core.getCommitment(requester.address, jobId)).spent).toBe(fees);

    // node2 never redeems; node redeems its own two: it gets its fuel and the verifier nothing more.
    const nodeTickets = indicesOf(issued, 'node').filter((i) => tree.tickets[i]!.node === node.address);
    const theirs = tree.multiProof(nodeTickets);
    await mined(
      node.core.redeemMany(
        asArgs(batch),
        signature,
        theirs.tickets,
        theirs.indices,
        theirs.proof,
        theirs.proofFlags,
      ),
    );
    const nodeFuel = nodeTickets.reduce((a, i) => a + tree.tickets[i]!.amount, 0n);
    expect(await t.deltas()).toEqual({ node: nodeFuel, node2: 0n, verifier: fees });
    const m = await admin.core.getCommitment(requester.address, jobId);
    expect(m.spent).toBe(fees + nodeFuel);
    expect(m.amount - m.spent).toBe(amounts - nodeFuel); // exactly node2's unredeemed ticket
    expect((await admin.core.getDeposit(requester.address)).balance).toBe(DEPOSIT - fees - nodeFuel);
    // A fee ticket cannot be redeemed again, by anyone.
    await expectRevert(
      node.core.redeem(asArgs(batch), signature, tree.tickets[1]!, 1, tree.proof(1)),
      'TicketAlreadyRedeemed',
      [batch.root, 1n],
    );
  });

  it("the two tickets share the SubJob's commitment: whichever redeems second cannot go beyond it", async () => {
    const jobId = id32('split-short');
    const [pair] = subJobs(jobId, [node.address], 1) as [ReturnType<typeof subJobTickets>];
    const [nodeTicket, feeTicket] = pair.map((x) => x.ticket) as [Ticket, Ticket];
    await commitFor(h, requester, jobId, nodeTicket.amount + feeTicket.verifierFee - 1n);
    const { tree, batch, signature } = await signed([nodeTicket, feeTicket], signer, domain(), false);
    await mined(verifier.core.redeem(asArgs(batch), signature, feeTicket, 1, tree.proof(1)));
    await expectRevert(
      node.core.redeem(asArgs(batch), signature, nodeTicket, 0, tree.proof(0)),
      'TicketExceedsCommitment',
      [requester.address, jobId, nodeTicket.amount, nodeTicket.amount - 1n],
    );
    expect(await admin.core.isRedeemed(batch.root, 0)).toBe(false);
  });

  it('a verifier batch naming 20 nodes makes one transfer, to the verifier, and costs no more than one naming a single node', async () => {
    const feeBatch = async (label: string, nodes: string[]) => {
      const fees = subJobs(id32(label), nodes, 20).map(
        (pair) => pair.find((x) => x.role === 'verifier')!.ticket,
      );
      const { tree, batch, signature } = await signed(fees);
      const mp = tree.multiProof(fees.map((_, i) => i));
      return {
        fees,
        redeem: () =>
          verifier.core.redeemMany(asArgs(batch), signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
      };
    };
    const single = await feeBatch('one-node', [node.address]);
    const { gasUsed: singleGas } = await mined(single.redeem());
    const nodes = Array.from({ length: 20 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}`);
    const { fees, redeem } = await feeBatch('many-nodes', nodes);
    const t = await trackBalances(h, { verifier: verifier.address, core: h.deployment.core });
    const { blockNumber, gasUsed } = await mined(redeem());
    // Nodes a ticket pays nothing are no payees: no per-node bookkeeping grows with their number.
    expect(gasUsed).toBeLessThan(singleGas + 1_000n);
    const total = fees.reduce((a, f) => a + f.verifierFee, 0n);
    expect(await t.deltas()).toEqual({ verifier: total, core: -total });
    const transfers = (
      await h.provider.getLogs({ address: h.deployment.token, fromBlock: blockNumber, toBlock: blockNumber })
    )
      .map((l) => verifier.token.interface.parseLog(l))
      .filter((e) => e?.name === 'Transfer');
    expect(transfers.map((e) => [String(e!.args.to), BigInt(e!.args.value)])).toEqual([
      [verifier.address, total],
    ]);
  });
});

describe('attacks', () => {
  it('a batch signed by a non-signer: InvalidBatchSigner(recovered)', async () => {
    const tickets = [ticket()];
    const { tree, batch, signature } = await signed(tickets, outsider);
    await expectRevert(
      node.core.redeem(asArgs(batch), signature, tickets[0]!, 0, tree.proof(0)),
      'InvalidBatchSigner',
      [outsider.address],
    );
    const mp = tree.multiProof([0]);
    await expectRevert(
      node.core.redeemMany(asArgs(batch), signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
      'InvalidBatchSigner',
      [outsider.address],
    );
  });

  it('a signer whose role was revoked can no longer sign batches', async () => {
    const tickets = [ticket()];
    const { tree, batch, signature } = await signed(tickets);
    await mined(admin.core.revokeRole(await admin.core.SIGNER_ROLE(), signer.address));
    await expectRevert(
      node.core.redeem(asArgs(batch), signature, tickets[0]!, 0, tree.proof(0)),
      'InvalidBatchSigner',
      [signer.address],
    );
  });

  it('domain separation: a batch signed for another chain id or another contract is refused', async () => {
    const tickets = [ticket()];
    const otherChain = await signed(
      tickets,
      signer,
      emethDomain(h.deployment.chainId + 1, h.deployment.core),
    );
    await expectRevert(
      node.core.redeem(
        asArgs(otherChain.batch),
        otherChain.signature,
        tickets[0]!,
        0,
        otherChain.tree.proof(0),
      ),
      'InvalidBatchSigner',
    );
    const otherContract = await signed(
      tickets,
      signer,
      emethDomain(h.deployment.chainId, h.deployment.token),
    );
    await expectRevert(
      node.core.redeem(
        asArgs(otherContract.batch),
        otherContract.signature,
        tickets[0]!,
        0,
        otherContract.tree.proof(0),
      ),
      'InvalidBatchSigner',
    );
    // The recovered address is someone else, never the signer.
    expect(recoverBatchSigner(domain(), otherChain.batch, otherChain.signature)).not.toBe(signer.address);
  });

  it('double redemption: redeem twice, redeem then redeemMany, a duplicate inside redeemMany', async () => {
    const tickets = [ticket(), ticket(), ticket()];
    const { tree, batch, signature } = await signed(tickets);
    await mined(node.core.redeem(asArgs(batch), signature, tickets[0]!, 0, tree.proof(0)));
    const balance = (await admin.core.getDeposit(requester.address)).balance;
    await expectRevert(
      node.core.redeem(asArgs(batch), signature, tickets[0]!, 0, tree.proof(0)),
      'TicketAlreadyRedeemed',
      [batch.root, 0n],
    );
    const mp = tree.multiProof([0, 1]);
    await expectRevert(
      node.core.redeemMany(asArgs(batch), signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
      'TicketAlreadyRedeemed',
      [batch.root, 0n],
    );
    const dup = tree.multiProof([1, 2]);
    await expectRevert(
      node.core.redeemMany(
        asArgs(batch),
        signature,
        [dup.tickets[0]!, dup.tickets[0]!],
        [dup.indices[0]!, dup.indices[0]!],
        dup.proof,
        dup.proofFlags,
      ),
      'TicketAlreadyRedeemed',
    );
    expect((await admin.core.getDeposit(requester.address)).balance).toBe(balance);
  });

  it('a tampered ticket or a wrong index fails the proof: InvalidMerkleProof', async () => {
    const tickets = [ticket(), ticket()];
    const { tree, batch, signature } = await signed(tickets);
    const richer = { ...tickets[0]!, amount: tickets[0]!.amount * 100n };
    await expectRevert(
      node.core.redeem(asArgs(batch), signature, richer, 0, tree.proof(0)),
      'InvalidMerkleProof',
      [batch.root, 0n],
    );
    const thief = { ...tickets[0]!, node: outsider.address };
    await expectRevert(
      outsider.core.redeem(asArgs(batch), signature, thief, 0, tree.proof(0)),
      'InvalidMerkleProof',
    );
    // The same leaf under another index (to dodge the redeemed bit) does not verify.
    await expectRevert(
      node.core.redeem(asArgs(batch), signature, tickets[0]!, 7, tree.proof(0)),
      'InvalidMerkleProof',
      [batch.root, 7n],
    );
    const mp = tree.multiProof([0, 1]);
    const forged = [{ ...mp.tickets[0]!, amount: 1n }, mp.tickets[1]!];
    await expectRevert(
      node.core.redeemMany(asArgs(batch), signature, forged, mp.indices, mp.proof, mp.proofFlags),
      'InvalidMerkleProof',
    );
  });

  it("a ticket beyond its Job's commitment: TicketExceedsCommitment, nothing paid (all-or-nothing)", async () => {
    const jobId = id32('short-job');
    const a = ticket({ jobId });
    const b = ticket({ jobId });
    const cost = a.amount + a.verifierFee;
    await commitFor(h, requester, jobId, 2n * cost - 1n); // one holon short of both tickets
    const { tree, batch, signature } = await signed([a, b], signer, domain(), false);
    await mined(node.core.redeem(asArgs(batch), signature, a, 0, tree.proof(0)));
    await expectRevert(
      node.core.redeem(asArgs(batch), signature, b, 1, tree.proof(1)),
      'TicketExceedsCommitment',
      [requester.address, jobId, cost, cost - 1n],
    );
    // A ticket of a Job nobody committed to is refused however large the deposit.
    const stray = ticket();
    const other = await signed([stray, ticket()], signer, domain(), false);
    const t = await trackBalances(h, { node: node.address });
    const mp = other.tree.multiProof([0, 1]);
    await expectRevert(
      node.core.redeemMany(
        asArgs(other.batch),
        other.signature,
        mp.tickets,
        mp.indices,
        mp.proof,
        mp.proofFlags,
      ),
      'TicketExceedsCommitment',
    );
    expect(await t.deltas()).toEqual({ node: 0n });
    expect(await admin.core.isRedeemed(other.batch.root, 1)).toBe(false);
    // The requester of the ticket must be the one who committed: requester2 committed nothing here.
    const theirs = ticket({ jobId, requester: requester2.address });
    const signedTheirs = await signed([theirs], signer, domain(), false);
    await expectRevert(
      node.core.redeem(
        asArgs(signedTheirs.batch),
        signedTheirs.signature,
        theirs,
        0,
        signedTheirs.tree.proof(0),
      ),
      'TicketExceedsCommitment',
      [requester2.address, jobId, cost, 0n],
    );
  });

  it('a ticket beyond its batch total: BatchTotalExceeded (a leaked signer key cannot inflate a root)', async () => {
    const tickets = [ticket(), ticket()];
    await commitTickets(h, tickets);
    const tree = new TicketTree(tickets);
    const cost = tickets[0]!.amount + tickets[0]!.verifierFee;
    // The signer states a total smaller than the tree's tickets sum to.
    const short: Batch = { ...tree.batch(BigInt(++seq)), total: cost + cost / 2n };
    const sig = await signBatch(signer.wallet, domain(), short);
    await mined(node.core.redeem(asArgs(short), sig, tickets[0]!, 0, tree.proof(0)));
    await expectRevert(
      node.core.redeem(asArgs(short), sig, tickets[1]!, 1, tree.proof(1)),
      'BatchTotalExceeded',
      [short.root, 2n * cost, short.total],
    );
    // redeemMany checks the sum of the whole call against the total.
    const freshTree = new TicketTree([ticket(), ticket()]);
    await commitTickets(h, freshTree.tickets);
    const freshBatch: Batch = { ...freshTree.batch(BigInt(++seq)), total: cost };
    const freshSig = await signBatch(signer.wallet, domain(), freshBatch);
    const fmp = freshTree.multiProof([0, 1]);
    await expectRevert(
      node.core.redeemMany(asArgs(freshBatch), freshSig, fmp.tickets, fmp.indices, fmp.proof, fmp.proofFlags),
      'BatchTotalExceeded',
      [freshBatch.root, 2n * cost, cost],
    );
    expect(await admin.core.batchRedeemed(short.root)).toBe(cost);
    expect(await admin.core.batchRedeemed(freshBatch.root)).toBe(0n);
  });

  it('a withdrawal requested mid-Job cannot take committed money; every ticket still redeems after the delay', async () => {
    const jobId = id32('mid-job');
    const tickets = Array.from({ length: 4 }, () =>
      ticket({ jobId, amount: EMETH, verifierFee: EMETH / 10n }),
    );
    const committed = 4n * (EMETH + EMETH / 10n);
    await commitFor(h, requester, jobId, committed);
    expect(await admin.core.freeDeposit(requester.address)).toBe(DEPOSIT - committed);
    // The requester tries to pull the whole deposit out from under the running Job.
    await expectRevert(requester.core.requestWithdrawal(DEPOSIT), 'InsufficientFreeDeposit', [
      requester.address,
      DEPOSIT,
      DEPOSIT - committed,
    ]);
    await mined(requester.core.requestWithdrawal(DEPOSIT - committed));
    expect(await admin.core.freeDeposit(requester.address)).toBe(0n);
    const { tree, batch, signature } = await signed(tickets, signer, domain(), false);
    await h.increaseTime(3600 + 1);
    const t = await trackBalances(h, {
      node: node.address,
      verifier: verifier.address,
      r: requester.address,
    });
    await mined(requester.core.withdraw());
    expect(await t.deltas()).toEqual({ node: 0n, verifier: 0n, r: DEPOSIT - committed });
    const mp = tree.multiProof([0, 1, 2, 3]);
    await mined(
      node.core.redeemMany(asArgs(batch), signature, mp.tickets, mp.indices, mp.proof, mp.proofFlags),
    );
    expect(await t.deltas()).toEqual({
      node: 4n * EMETH,
      verifier: 4n * (EMETH / 10n),
      r: DEPOSIT - committed,
    });
    const d = await admin.core.getDeposit(requester.address);
    expect([d.balance, d.committed, d.pendingWithdrawal]).toEqual([0n, 0n, 0n]);
  });

  it('committed money is never withdrawable, whatever the order of requests', async () => {
    await mined(requester.core.requestWithdrawal(DEPOSIT / 2n));
    // Earmarked money cannot be committed either.
    const c = {
      requester: requester.address,
      jobId: id32('late'),
      amount: DEPOSIT / 2n + 1n,
      deadline: (await h.now()) + 86_400n,
    };
    const sig = await signCommit(requester.wallet, domain(), c);
    await expectRevert(h.actor('server').core.commit(c, sig), 'InsufficientFreeDeposit', [
      requester.address,
      DEPOSIT / 2n + 1n,
      DEPOSIT / 2n,
    ]);
    await commitFor(h, requester, id32('fits'), DEPOSIT / 2n);
    await h.increaseTime(3600 + 1);
    const t = await trackBalances(h, { r: requester.address });
    await mined(requester.core.withdraw());
    expect(await t.deltas()).toEqual({ r: DEPOSIT / 2n });
    const d = await admin.core.getDeposit(requester.address);
    expect([d.balance, d.committed]).toEqual([DEPOSIT / 2n, DEPOSIT / 2n]);
  });

  it('an empty redeemMany or mismatched arrays revert LengthMismatch', async () => {
    const { tree, batch, signature } = await signed([ticket()]);
    const mp = tree.multiProof([0]);
    await expectRevert(
      node.core.redeemMany(asArgs(batch), signature, [], [], mp.proof, mp.proofFlags),
      'LengthMismatch',
    );
    await expectRevert(
      node.core.redeemMany(asArgs(batch), signature, mp.tickets, [], mp.proof, mp.proofFlags),
      'LengthMismatch',
    );
  });
});
