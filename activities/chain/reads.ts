/**
 * EmethCore's structs as JSON-safe records for Temporal (amounts as decimal strings, enums as
 * numbers), converted from TypeChain's typed outputs so a renamed field fails the build.
 */
import type { EmethCore } from '../../contracts/typed';
import { JobStatus, SubJobStatus } from '../../lib/types-chain';

export interface ChainJob {
  jobId: string;
  requester: string;
  status: JobStatus;
  programId: number;
  deadline: number;
  maxRetries: number;
  processed: boolean;
  subJobCount: number;
  openCount: number;
  verifiedCount: number;
  failedCount: number;
  fuelLimit: string;
  fuelPrice: string;
  verifierFee: string;
  escrow: string;
}

export interface ChainSubJob {
  jobId: string;
  index: number;
  node: string | null;
  status: SubJobStatus;
  retries: number;
  deadline: number;
  fuelLimit: string;
  verifierFee: string;
  deposit: string;
  fuelUsed: string;
  resultDigest: string;
}

export interface ChainDeposit {
  balance: string;
  pendingWithdrawal: string;
  /** Committed to Jobs by the L2 (with the requester's signature): paid out only as tickets. */
  committed: string;
  /** balance − committed − pendingWithdrawal: what the L2 may still commit. */
  free: string;
  withdrawableAt: number;
}

export interface ChainNode {
  registered: boolean;
  capabilityClass: number;
  stake: string;
  locked: string;
  unstaking: string;
  unstakeUnlockAt: number;
  encryptionKey: string;
}

const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

export async function readJob(core: EmethCore, jobId: string): Promise<ChainJob | null> {
  const j = await core.getJob(jobId);
  if (Number(j.status) === JobStatus.None) return null;
  return {
    jobId,
    requester: j.requester,
    status: Number(j.status),
    programId: Number(j.programId),
    deadline: Number(j.deadline),
    maxRetries: Number(j.maxRetries),
    processed: j.processed,
    subJobCount: Number(j.subJobCount),
    openCount: Number(j.openCount),
    verifiedCount: Number(j.verifiedCount),
    failedCount: Number(j.failedCount),
    fuelLimit: j.fuelLimit.toString(),
    fuelPrice: j.fuelPrice.toString(),
    verifierFee: j.verifierFee.toString(),
    escrow: j.escrow.toString(),
  };
}

export async function readSubJob(core: EmethCore, jobId: string, index: number): Promise<ChainSubJob> {
  const s = await core.getSubJob(jobId, index);
  return {
    jobId,
    index,
    node: s.node === ZERO_ADDRESS ? null : s.node,
    status: Number(s.status),
    retries: Number(s.retries),
    deadline: Number(s.deadline),
    fuelLimit: s.fuelLimit.toString(),
    verifierFee: s.verifierFee.toString(),
    deposit: s.deposit.toString(),
    fuelUsed: s.fuelUsed.toString(),
    resultDigest: s.resultDigest,
  };
}

export async function readDeposit(core: EmethCore, requester: string): Promise<ChainDeposit> {
  const [d, free] = await Promise.all([core.getDeposit(requester), core.freeDeposit(requester)]);
  return {
    balance: d.balance.toString(),
    pendingWithdrawal: d.pendingWithdrawal.toString(),
    committed: d.committed.toString(),
    free: free.toString(),
    withdrawableAt: Number(d.withdrawableAt),
  };
}

export async function readNode(core: EmethCore, address: string): Promise<ChainNode> {
  const n = await core.getNode(address);
  return {
    registered: n.registered,
    capabilityClass: Number(n.capabilityClass),
    stake: n.stake.toString(),
    locked: n.locked.toString(),
    unstaking: n.unstaking.toString(),
    unstakeUnlockAt: Number(n.unstakeUnlockAt),
    encryptionKey: n.encryptionKey,
  };
}
