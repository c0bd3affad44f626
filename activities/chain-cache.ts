// Over 300 lines because it is one follower: each EmethCore event and the row it mirrors into, side by side.
/**
 * EMETH Cache: follows EmethCore's events from the deployment block onward into the database, so
 * nodes and servers read state from there instead of the chain.
 *
 * - Only blocks `confirmations` deep are read (head − confirmations), so a shallow reorg never
 *   reaches the cache.
 * - Blocks are read in ranges of `blockRange`; each range's events, the mirrored state they change
 *   and the cursor are written in ONE transaction, so after a crash the follower resumes at the
 *   first range it had not committed.
 * - Events are keyed by (txHash, logIndex): re-reading a range (a cursor moved back by hand, two
 *   followers racing) stores and applies nothing twice.
 * - The mirror (ChainJob, ChainSubJob, ChainNode, ChainDeposit, ChainTicketRedemption) is derived
 *   from events alone, with the contract's own arithmetic.
 */
import { Interface, type InterfaceAbi, type Log, type Provider } from 'ethers';
import { loadArtifact } from '../contracts/artifacts';
import type { Deployment } from '../lib/types-chain';
import type { Logger } from '../lib/logger';
import type { Prisma, PrismaClient } from '../prisma/client';

export interface ChainCacheDeps {
  prisma: PrismaClient;
  provider: Provider;
  deployment: Deployment;
  logger?: Logger;
  /** Blocks below the head before a block is read. Default 2 (0 on a dev chain is fine). */
  confirmations?: number;
  /** Blocks per getLogs call and per transaction. Default 2,000. */
  blockRange?: number;
  /** First block to read when there is no cursor yet. Default: the deployment block. */
  startBlock?: number;
}

export interface SyncResult {
  /** First block read in this call (cursor + 1). */
  fromBlock: number;
  /** Last block read (fromBlock − 1 when there was nothing new to read). */
  toBlock: number;
  /** Events newly stored. */
  events: number;
}

type Tx = Prisma.TransactionClient;
type Args = Record<string, string | number | boolean>;

const JOB_STATUS = ['None', 'Requested', 'Split', 'Finished', 'Cancelled'] as const;

export function createChainCache(deps: ChainCacheDeps) {
  const { prisma, provider, deployment } = deps;
  const confirmations = deps.confirmations ?? 2;
  const blockRange = deps.blockRange ?? 2_000;
  const iface = new Interface(loadArtifact('EmethCore').abi as InterfaceAbi);
  const contract = deployment.core.toLowerCase();
  const cursorId = `${deployment.chainId}:${contract}`;
  const startBlock = deps.startBlock ?? deployment.blockNumber;

  async function lastBlock(): Promise<number> {
    const c = await prisma.chainCursor.findUnique({ where: { id: cursorId } });
    return c ? Number(c.lastBlock) : startBlock - 1;
  }

  /** Decodes a log into (name, args by name with integers as decimal strings). */
  function decode(log: Log): { name: string; args: Args } | undefined {
    const parsed = iface.parseLog({ topics: [...log.topics], data: log.data });
    if (!parsed) return undefined;
    const args: Args = {};
    parsed.fragment.inputs.forEach((input, i) => {
      const v: unknown = parsed.args[i];
      args[input.name] = typeof v === 'bigint' ? v.toString() : (v as string | boolean);
    });
    return { name: parsed.name, args };
  }

  async function syncRange(from: number, to: number): Promise<number> {
    const logs = await provider.getLogs({ address: deployment.core, fromBlock: from, toBlock: to });
    logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
    return prisma.$transaction(async (tx) => {
      let stored = 0;
      for (const log of logs) {
        const decoded = decode(log);
        if (!decoded) continue;
        const inserted = await tx.chainEvent.createMany({
          data: [
            {
              chainId: deployment.chainId,
              contract,
              blockNumber: BigInt(log.blockNumber),
              blockHash: log.blockHash,
              txHash: log.transactionHash,
              logIndex: log.index,
              name: decoded.name,
              args: decoded.args,
            },
          ],
          skipDuplicates: true,
        });
        if (inserted.count === 0) continue; // already stored and applied
        await apply(tx, decoded.name, decoded.args, log);
        stored++;
      }
      await tx.chainCursor.upsert({
        where: { id: cursorId },
        create: { id: cursorId, lastBlock: BigInt(to) },
        update: { lastBlock: BigInt(to) },
      });
      return stored;
    });
  }

  return {
    /** The last block stored (startBlock − 1 before the first sync). */
    lastBlock,

    /** Reads every confirmed block after the cursor, range by range; returns what it covered. */
    async syncOnce(): Promise<SyncResult> {
      const head = await provider.getBlockNumber();
      const target = head - confirmations;
      const fromBlock = (await lastBlock()) + 1;
      let events = 0;
      let next = fromBlock;
      while (next <= target) {
        const to = Math.min(target, next + blockRange - 1);
        events += await syncRange(next, to);
        deps.logger?.debug({ fromBlock: next, toBlock: to }, 'chain cache: range stored');
        next = to + 1;
      }
      const result = { fromBlock, toBlock: next - 1, events };
      if (events > 0) deps.logger?.info(result, 'chain cache: synced');
      return result;
    },
  };
}

export type ChainCache = ReturnType<typeof createChainCache>;

// ─────────────────────────────────────────── the mirror

const s = (v: string | number | boolean | undefined): string => String(v);
const lower = (v: string | number | boolean | undefined): string => String(v).toLowerCase();

/** Applies one event to the mirrored state (called once per event, inside the range's transaction). */
async function apply(tx: Tx, name: string, a: Args, log: Log): Promise<void> {
  const block = BigInt(log.blockNumber);
  const subId = (): string => `${s(a.jobId)}:${s(a.index)}`;
  switch (name) {
    case 'JobRequested':
      await tx.chainJob.create({
        data: {
          jobId: s(a.jobId),
          requester: lower(a.requester),
          programId: Number(a.programId),
          fuelLimit: s(a.fuelLimit),
          fuelPrice: s(a.fuelPrice),
          verifierFee: s(a.verifierFee),
          deadline: BigInt(s(a.deadline)),
          dataset: s(a.dataset),
          status: JOB_STATUS[1],
          updatedBlock: block,
        },
      });
      return;
    case 'SubJobsRegistered':
      await tx.chainJob.update({
        where: { jobId: s(a.jobId) },
        data: { status: JOB_STATUS[2], subJobCount: Number(a.count), updatedBlock: block },
      });
      return;
    case 'JobCancelled':
      await tx.chainJob.update({
        where: { jobId: s(a.jobId) },
        data: { status: JOB_STATUS[4], updatedBlock: block },
      });
      return;
    case 'JobFinished':
      await tx.chainJob.update({
        where: { jobId: s(a.jobId) },
        data: {
          status: JOB_STATUS[3],
          verifiedCount: Number(a.verifiedCount),
          failedCount: Number(a.failedCount),
          updatedBlock: block,
        },
      });
      return;
    case 'SubJobOffered': {
      const data = {
        status: 'Open',
        node: null,
        retries: Number(a.attempt),
        deposit: '0',
        fuelUsed: null,
        resultDigest: null,
        deadline: null,
        updatedBlock: block,
      };
      await tx.chainSubJob.upsert({
        where: { id: subId() },
        create: {
          id: subId(),
          jobId: s(a.jobId),
          index: Number(a.index),
          fuelLimit: s(a.fuelLimit),
          verifierFee: s(a.verifierFee),
          ...data,
        },
        update: data,
      });
      return;
    }
    case 'SubJobProcessing':
      await tx.chainSubJob.update({
        where: { id: subId() },
        data: {
          status: 'Processing',
          node: lower(a.node),
          deposit: s(a.deposit),
          deadline: BigInt(s(a.deadline)),
          updatedBlock: block,
        },
      });
      await tx.chainNode.update({
        where: { address: lower(a.node) },
        data: { locked: { increment: s(a.deposit) }, updatedBlock: block },
      });
      return;
    case 'SubJobSubmitted':
      await tx.chainSubJob.update({
        where: { id: subId() },
        data: {
          status: 'Submitted',
          resultDigest: s(a.resultDigest),
          fuelUsed: s(a.fuelUsed),
          updatedBlock: block,
        },
      });
      return;
    case 'SubJobVerified': {
      const sub = await tx.chainSubJob.update({
        where: { id: subId() },
        data: { status: 'Verified', updatedBlock: block },
      });
      await unlock(tx, lower(a.node), sub.deposit.toString(), block);
      return;
    }
    case 'SubJobDeclined':
    case 'SubJobRejected':
    case 'SubJobTimedOut': {
      // The penalty itself arrives as PenaltyBurned; the re-offer as SubJobOffered or SubJobFailed.
      if (lower(a.node) === '0x0000000000000000000000000000000000000000') return; // an Open SubJob timed out
      const sub = await tx.chainSubJob.findUniqueOrThrow({ where: { id: subId() } });
      await unlock(tx, lower(a.node), sub.deposit.toString(), block);
      return;
    }
    case 'SubJobFailed':
      await tx.chainSubJob.update({
        where: { id: subId() },
        data: { status: 'Failed', node: null, deposit: '0', updatedBlock: block },
      });
      return;
    case 'NodeRegistered':
      await tx.chainNode.create({
        data: {
          address: lower(a.node),
          capabilityClass: BigInt(s(a.capabilityClass)),
          encryptionKey: s(a.encryptionKey),
          stake: s(a.stake),
          updatedBlock: block,
        },
      });
      return;
    case 'NodeUpdated':
      await tx.chainNode.update({
        where: { address: lower(a.node) },
        data: {
          capabilityClass: BigInt(s(a.capabilityClass)),
          encryptionKey: s(a.encryptionKey),
          updatedBlock: block,
        },
      });
      return;
    case 'StakeAdded':
      await tx.chainNode.update({
        where: { address: lower(a.node) },
        data: { stake: s(a.stake), updatedBlock: block },
      });
      return;
    case 'UnstakeRequested':
      await tx.chainNode.update({
        where: { address: lower(a.node) },
        data: {
          stake: { decrement: s(a.amount) },
          unstaking: { increment: s(a.amount) },
          updatedBlock: block,
        },
      });
      return;
    case 'Unstaked':
      await tx.chainNode.update({
        where: { address: lower(a.node) },
        data: { unstaking: '0', updatedBlock: block },
      });
      return;
    // Each open L2 attempt holds its worst penalty back from the node's free stake.
    case 'StakeLocked':
      await tx.chainNode.update({
        where: { address: lower(a.node) },
        data: { locked: { increment: s(a.amount) }, updatedBlock: block },
      });
      return;
    case 'StakeReleased':
      await tx.chainNode.update({
        where: { address: lower(a.node) },
        data: { locked: { decrement: s(a.amount) }, updatedBlock: block },
      });
      return;
    case 'L2PenaltyBurned':
    case 'PenaltyBurned':
      await tx.chainNode.update({
        where: { address: lower(a.node) },
        data: {
          stake: { decrement: s(a.amount) },
          penalties: { increment: s(a.amount) },
          updatedBlock: block,
        },
      });
      return;
    case 'Deposited':
      await tx.chainDeposit.upsert({
        where: { requester: lower(a.requester) },
        create: { requester: lower(a.requester), balance: s(a.balance), updatedBlock: block },
        update: { balance: s(a.balance), updatedBlock: block },
      });
      return;
    case 'WithdrawalRequested':
      await tx.chainDeposit.update({
        where: { requester: lower(a.requester) },
        data: {
          pendingWithdrawal: s(a.pending),
          withdrawableAt: BigInt(s(a.withdrawableAt)),
          updatedBlock: block,
        },
      });
      return;
    case 'WithdrawalCancelled':
      await tx.chainDeposit.update({
        where: { requester: lower(a.requester) },
        data: { pendingWithdrawal: '0', withdrawableAt: 0n, updatedBlock: block },
      });
      return;
    case 'Withdrawn':
      await tx.chainDeposit.update({
        where: { requester: lower(a.requester) },
        data: { balance: s(a.balance), pendingWithdrawal: '0', withdrawableAt: 0n, updatedBlock: block },
      });
      return;
    case 'TicketRedeemed': {
      await tx.chainTicketRedemption.create({
        data: {
          id: `${s(a.root)}:${s(a.index)}`,
          root: s(a.root),
          index: Number(a.index),
          jobId: s(a.jobId),
          subJobId: s(a.subJobId),
          node: lower(a.node),
          requester: lower(a.requester),
          amount: s(a.amount),
          verifier: lower(a.verifier),
          verifierFee: s(a.verifierFee),
          txHash: log.transactionHash,
          blockNumber: block,
        },
      });
      // Same rule as EmethCore._debit: redemption first, a pending withdrawal shrinks to fit.
      const d = await tx.chainDeposit.findUniqueOrThrow({ where: { requester: lower(a.requester) } });
      const balance = BigInt(d.balance.toFixed()) - BigInt(s(a.amount)) - BigInt(s(a.verifierFee));
      const pending = BigInt(d.pendingWithdrawal.toFixed());
      await tx.chainDeposit.update({
        where: { requester: d.requester },
        data: {
          balance: balance.toString(),
          pendingWithdrawal: (pending > balance ? balance : pending).toString(),
          updatedBlock: block,
        },
      });
      return;
    }
    default:
      // ParameterChanged, ProgramRegistered/Updated, role and pause events: kept in ChainEvent only.
      return;
  }
}

async function unlock(tx: Tx, node: string, deposit: string, block: bigint): Promise<void> {
  await tx.chainNode.update({
    where: { address: node },
    data: { locked: { decrement: deposit }, updatedBlock: block },
  });
}
