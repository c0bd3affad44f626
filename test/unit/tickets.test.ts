import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { Wallet, ZeroAddress, id } from 'ethers';
import {
  LEAF_ENCODING,
  TicketTree,
  batchDigest,
  deserializeTicket,
  emethDomain,
  hashTicket,
  paidTo,
  recoverBatchSigner,
  serializeTicket,
  signBatch,
  subJobTickets,
  ticketLeaf,
  type Ticket,
} from '../../lib/tickets';

const node = '0x' + '22'.repeat(20);
const requester = '0x' + '33'.repeat(20);
const verifier = '0x' + '44'.repeat(20);

function ticket(i: number, amount = 10n): Ticket {
  return {
    jobId: id(`job-${i}`),
    subJobId: id(`sub-${i}`),
    node,
    requester,
    amount,
    verifier,
    verifierFee: 1n,
  };
}

describe('lib/tickets', () => {
  it('hashTicket is the EIP-712 struct hash (known vector, changes with every field)', () => {
    const t = ticket(1);
    expect(hashTicket(t)).toMatch(/^0x[0-9a-f]{64}$/);
    for (const k of Object.keys(t) as (keyof Ticket)[]) {
      const changed = {
        ...t,
        [k]: typeof t[k] === 'bigint' ? (t[k] as bigint) + 1n : k.endsWith('Id') ? id('other') : ZeroAddress,
      };
      expect(hashTicket(changed)).not.toBe(hashTicket(t));
    }
  });

  it('leaves are OpenZeppelin standard leaves of (ticketHash, index)', () => {
    const tickets = [ticket(1), ticket(2), ticket(3)];
    const tree = new TicketTree(tickets);
    const reference = StandardMerkleTree.of(
      tickets.map((t, i) => [hashTicket(t), BigInt(i)]),
      [...LEAF_ENCODING],
    );
    expect(tree.root).toBe(reference.root);
    tickets.forEach((t, i) => {
      expect(
        StandardMerkleTree.verify(tree.root, [...LEAF_ENCODING], [hashTicket(t), BigInt(i)], tree.proof(i)),
      ).toBe(true);
      expect(reference.leafHash([hashTicket(t), BigInt(i)])).toBe(ticketLeaf(t, i));
    });
    // Another index for the same ticket is another leaf: the proof does not carry over.
    expect(
      StandardMerkleTree.verify(tree.root, [...LEAF_ENCODING], [hashTicket(tickets[0]!), 5n], tree.proof(0)),
    ).toBe(false);
  });

  it('multiProof returns the tickets in leaf order with matching indices', () => {
    const tickets = Array.from({ length: 10 }, (_, i) => ticket(i, BigInt(i + 1)));
    const tree = new TicketTree(tickets);
    const mp = tree.multiProof([7, 1, 4]);
    expect([...mp.indices].sort()).toEqual([1n, 4n, 7n]);
    mp.indices.forEach((idx, k) => expect(mp.tickets[k]).toEqual(tickets[Number(idx)]));
    expect(
      StandardMerkleTree.verifyMultiProof(tree.root, [...LEAF_ENCODING], {
        leaves: mp.tickets.map((t, k) => [hashTicket(t), mp.indices[k]!]),
        proof: mp.proof,
        proofFlags: mp.proofFlags,
      }),
    ).toBe(true);
    expect(tree.total).toBe(tickets.reduce((s, t) => s + t.amount + t.verifierFee, 0n));
    expect(() => tree.proof(10)).toThrow(/outside the batch/);
    expect(() => new TicketTree([])).toThrow(/at least one ticket/);
  });

  it('signs and recovers a batch; another chain id or contract recovers someone else', async () => {
    const wallet = Wallet.createRandom();
    const tree = new TicketTree([ticket(1)]);
    const batch = tree.batch(7n);
    const domain = emethDomain(31337, '0x' + '55'.repeat(20));
    const sig = await signBatch(wallet, domain, batch);
    expect(recoverBatchSigner(domain, batch, sig)).toBe(wallet.address);
    expect(recoverBatchSigner(emethDomain(1, '0x' + '55'.repeat(20)), batch, sig)).not.toBe(wallet.address);
    expect(recoverBatchSigner(emethDomain(31337, '0x' + '66'.repeat(20)), batch, sig)).not.toBe(
      wallet.address,
    );
    expect(batchDigest(domain, batch)).not.toBe(batchDigest(domain, { ...batch, total: batch.total + 1n }));
  });

  it("subJobTickets: the node's ticket pays its fuel, the verifier's its fee; together the SubJob's charge", () => {
    const earnings = { ...ticket(9, 1_200n), verifierFee: 60n };
    const [n, v] = subJobTickets(earnings);
    expect(n).toEqual({ role: 'node', ticket: { ...earnings, verifierFee: 0n } });
    expect(v).toEqual({ role: 'verifier', ticket: { ...earnings, amount: 0n } });
    // Both still name who ran and who checked; they are distinct leaves of any batch.
    expect([n!.ticket.node, n!.ticket.verifier, v!.ticket.node, v!.ticket.verifier]).toEqual([
      node,
      verifier,
      node,
      verifier,
    ]);
    expect(hashTicket(n!.ticket)).not.toBe(hashTicket(v!.ticket));
    expect(new TicketTree([n!.ticket, v!.ticket]).total).toBe(1_260n);
    // Each pays exactly one party: the node nothing of the fee, the verifier nothing of the fuel.
    expect([paidTo(n!.ticket, node), paidTo(n!.ticket, verifier)]).toEqual([1_200n, 0n]);
    expect([paidTo(v!.ticket, node), paidTo(v!.ticket, verifier.toUpperCase().replace('0X', '0x'))]).toEqual([
      0n,
      60n,
    ]);
    // A zero fee earns no verifier ticket.
    expect(subJobTickets({ ...earnings, verifierFee: 0n }).map((t) => t.role)).toEqual(['node']);
  });

  it('serializes through JSON and loads back to the same tree', () => {
    const tree = new TicketTree([ticket(1), ticket(2, 5n)]);
    const again = TicketTree.load(JSON.parse(JSON.stringify(tree.dump())));
    expect(again.root).toBe(tree.root);
    expect(deserializeTicket(serializeTicket(ticket(2, 5n)))).toEqual(ticket(2, 5n));
  });
});
