/**
 * L2 settlement tickets (SPEC.md §5): the EIP-712 `Ticket` and `Batch`, their hashes, and the
 * Merkle tree a Signer builds over a batch. A verified SubJob earns two tickets, each paying one
 * party that redeems it itself (`subJobTickets`): the node its fuel, the verifier its fee. The tree
 * is OpenZeppelin's StandardMerkleTree with leaf
 * encoding `["bytes32","uint256"]` = (EIP-712 struct hash of the ticket, index in the batch), i.e.
 * leaf = keccak256(keccak256(abi.encode(hashTicket(t), index))) — exactly EmethCore's `_leaf`.
 * The index is part of the leaf so each leaf owns one bit of the contract's redeemed bitmap.
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import {
  AbiCoder,
  keccak256,
  TypedDataEncoder,
  verifyTypedData,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers';

export interface Ticket {
  jobId: string; // bytes32 hex
  subJobId: string; // bytes32 hex
  node: string;
  requester: string;
  /** holon paid to `node`. */
  amount: bigint;
  verifier: string;
  /** holon paid to `verifier`. */
  verifierFee: bigint;
}

/**
 * Whom a ticket pays: its node (`amount`), a replicated SubJob's second node (`amount`, role
 * 'replica'), or its verifier (`verifierFee`); the other part is 0.
 */
export type TicketRole = 'node' | 'replica' | 'verifier';

/** What a verified SubJob earns, before it is split into tickets. */
export interface SubJobEarnings {
  jobId: string;
  subJobId: string;
  node: string;
  requester: string;
  /** fuelUsed × fuelPrice, for the node. */
  amount: bigint;
  verifier: string;
  /** The SubJob's verifier-fee share, for the verifier. */
  verifierFee: bigint;
}

/**
 * The tickets of one verified SubJob: the node's (`amount`, verifierFee 0) and, when the fee is not
 * 0, the verifier's (amount 0, `verifierFee`). Both name the SubJob's node and verifier, so each
 * still says who ran and who checked; each pays one party, which redeems it without the other.
 * Their sum is the SubJob's charge, as one combined ticket's was.
 */
export function subJobTickets(e: SubJobEarnings): { role: TicketRole; ticket: Ticket }[] {
  const node = { role: 'node' as const, ticket: { ...e, verifierFee: 0n } };
  return e.verifierFee > 0n ? [node, { role: 'verifier', ticket: { ...e, amount: 0n } }] : [node];
}

/** Holon a ticket pays `address` (as its node, its verifier, or both). */
export function paidTo(t: Ticket, address: string): bigint {
  const a = address.toLowerCase();
  return (t.node.toLowerCase() === a ? t.amount : 0n) + (t.verifier.toLowerCase() === a ? t.verifierFee : 0n);
}

export interface Batch {
  batchId: bigint;
  root: string;
  /** Sum of amount + verifierFee over the batch's tickets, in holon. */
  total: bigint;
}

/** Anything that can sign EIP-712 data (an ethers Wallet or JsonRpcSigner). */
export interface TypedDataSigner {
  signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string>;
}

export const TICKET_TYPES: Record<string, TypedDataField[]> = {
  Ticket: [
    { name: 'jobId', type: 'bytes32' },
    { name: 'subJobId', type: 'bytes32' },
    { name: 'node', type: 'address' },
    { name: 'requester', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'verifier', type: 'address' },
    { name: 'verifierFee', type: 'uint256' },
  ],
};

export const BATCH_TYPES: Record<string, TypedDataField[]> = {
  Batch: [
    { name: 'batchId', type: 'uint256' },
    { name: 'root', type: 'bytes32' },
    { name: 'total', type: 'uint256' },
  ],
};

export const LEAF_ENCODING = ['bytes32', 'uint256'] as const;
export type Leaf = [ticketHash: string, index: bigint];

/** EmethCore's EIP-712 domain on a chain: a batch signed for one chain or contract is worthless on another. */
export function emethDomain(chainId: bigint | number, verifyingContract: string): TypedDataDomain {
  return { name: 'EmethCore', version: '1', chainId: BigInt(chainId), verifyingContract };
}

/** EIP-712 struct hash of a ticket (EmethCore.hashTicket). */
export function hashTicket(t: Ticket): string {
  return TypedDataEncoder.hashStruct('Ticket', TICKET_TYPES, t as unknown as Record<string, unknown>);
}

/** The digest the Signer signs (EmethCore.batchDigest). */
export function batchDigest(domain: TypedDataDomain, batch: Batch): string {
  return TypedDataEncoder.hash(domain, BATCH_TYPES, batch as unknown as Record<string, unknown>);
}

export function signBatch(signer: TypedDataSigner, domain: TypedDataDomain, batch: Batch): Promise<string> {
  return signer.signTypedData(domain, BATCH_TYPES, batch as unknown as Record<string, unknown>);
}

export function recoverBatchSigner(domain: TypedDataDomain, batch: Batch, signature: string): string {
  return verifyTypedData(domain, BATCH_TYPES, batch as unknown as Record<string, unknown>, signature);
}

/** A batch's Merkle tree. `tickets[i]` sits at leaf index i (its bit in the redeemed bitmap). */
export class TicketTree {
  readonly tree: StandardMerkleTree<Leaf>;

  constructor(readonly tickets: readonly Ticket[]) {
    if (tickets.length === 0) throw new RangeError('a ticket batch needs at least one ticket');
    this.tree = StandardMerkleTree.of<Leaf>(
      tickets.map((t, i) => [hashTicket(t), BigInt(i)]),
      [...LEAF_ENCODING],
    );
  }

  get root(): string {
    return this.tree.root;
  }

  /** Sum of amount + verifierFee: the `total` of the batch. */
  get total(): bigint {
    return this.tickets.reduce((s, t) => s + t.amount + t.verifierFee, 0n);
  }

  batch(batchId: bigint): Batch {
    return { batchId, root: this.root, total: this.total };
  }

  /** Proof for `redeem(batch, signature, ticket, index, proof)`. */
  proof(index: number): string[] {
    return this.tree.getProof(this.treePosition(index));
  }

  /**
   * Arguments for `redeemMany`: the chosen tickets reordered as the multiproof's leaves, their
   * indices, the proof and its flags.
   */
  multiProof(indices: readonly number[]): {
    tickets: Ticket[];
    indices: bigint[];
    proof: string[];
    proofFlags: boolean[];
  } {
    if (indices.length === 0) throw new RangeError('multiProof needs at least one ticket index');
    const mp = this.tree.getMultiProof(indices.map((i) => this.treePosition(i)));
    const ordered = mp.leaves.map(([, index]) => BigInt(index));
    return {
      tickets: ordered.map((i) => this.tickets[Number(i)]!),
      indices: ordered,
      proof: mp.proof,
      proofFlags: mp.proofFlags,
    };
  }

  /** Serializable form (for storage); `TicketTree.load` restores it. */
  dump(): { tickets: SerializedTicket[] } {
    return { tickets: this.tickets.map(serializeTicket) };
  }

  static load(data: { tickets: SerializedTicket[] }): TicketTree {
    return new TicketTree(data.tickets.map(deserializeTicket));
  }

  /** The tree's value index equals the ticket index (values are given in ticket order). */
  private treePosition(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.tickets.length) {
      throw new RangeError(`ticket index ${index} is outside the batch (0..${this.tickets.length - 1})`);
    }
    return index;
  }
}

/** Leaf hash as EmethCore computes it, for checks outside a tree. */
export function ticketLeaf(t: Ticket, index: bigint | number): string {
  return keccak256(
    keccak256(AbiCoder.defaultAbiCoder().encode([...LEAF_ENCODING], [hashTicket(t), BigInt(index)])),
  );
}

/** A ticket with amounts as decimal strings, for JSON (Temporal payloads, database rows). */
export type SerializedTicket = Omit<Ticket, 'amount' | 'verifierFee'> & {
  amount: string;
  verifierFee: string;
};

export function serializeTicket(t: Ticket): SerializedTicket {
  return { ...t, amount: t.amount.toString(), verifierFee: t.verifierFee.toString() };
}

export function deserializeTicket(t: SerializedTicket): Ticket {
  return { ...t, amount: BigInt(t.amount), verifierFee: BigInt(t.verifierFee) };
}
