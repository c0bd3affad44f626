/**
 * The checks every budget a requester commits through the gateway passes (a Job's fee, a
 * deployment's budget, a lease's): its EIP-712 `Commit` must be the requester's own signature over
 * exactly that amount, open long enough for nodes to redeem, and its free deposit must cover it.
 * The L2 relays the Commit to EmethCore later; refusing here names the field before anything is held.
 */
import type { TypedDataDomain } from 'ethers';
import { recoverCommitSigner } from '../activities/chain/commitments';
import { freeToCommit } from '../activities/ledger/free-deposit';
import { HttpError, badRequest } from './errors';

export interface SignedCommit {
  /** The bytes32 id the commitment is filed under (the Job's, deployment's or lease's id). */
  jobId: string;
  deadline: number;
  signature: string;
}

export interface CommitTerms {
  /** The earliest `deadline` accepted (seconds since the epoch), and why, for the refusal. */
  earliest: number;
  earliestWhy: string;
  /** What the amount is made of, for the refusal (`feeLimit + verifierFee`, `budget`, …). */
  amountIs: string;
  /** Appended to the 503 when this gateway has no chain domain to check against. */
  unavailableHint?: string;
}

export function checkRequesterCommit(
  domain: TypedDataDomain | undefined,
  requester: string,
  commit: SignedCommit,
  amount: bigint,
  terms: CommitTerms,
): void {
  if (commit.deadline < terms.earliest)
    throw badRequest(
      'invalid_commit',
      `commit.deadline ${commit.deadline} is too early: sign it for at least ${terms.earliest} (${terms.earliestWhy})`,
      'commit',
    );
  if (!domain)
    throw new HttpError(
      503,
      'commit_unavailable',
      `this gateway cannot check Commit signatures${terms.unavailableHint ?? ''}`,
    );
  let signer: string;
  try {
    signer = recoverCommitSigner(
      domain,
      { requester, jobId: commit.jobId, amount, deadline: BigInt(commit.deadline) },
      commit.signature,
    ).toLowerCase();
  } catch {
    signer = 'nobody (a malformed signature)';
  }
  if (signer !== requester)
    throw badRequest(
      'invalid_commit',
      `commit.signature is by ${signer}, not by ${requester} over Commit(requester, jobId ${commit.jobId}, amount ${amount} = ${terms.amountIs}, deadline ${commit.deadline})`,
      'commit',
    );
}

type FreeDepositDeps = Parameters<typeof freeToCommit>[0];

/**
 * Holon the requester can still commit (the Ledger's own computation), read inside its requester
 * lock; a 503 when EmethCore cannot be read, so a caller retries rather than being refused.
 */
export async function freeDepositOf(deps: FreeDepositDeps, requester: string): Promise<bigint> {
  try {
    return await freeToCommit(deps, requester);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(
      503,
      'chain_unavailable',
      `could not read the deposit of ${requester} from EmethCore (${(err as Error).message}); try again shortly`,
    );
  }
}

/** The 402 for a budget the free deposit does not cover; `what` says what costs `amount`. */
export function insufficientDeposit(
  requester: string,
  free: bigint,
  amount: bigint,
  what: string,
): HttpError {
  return new HttpError(
    402,
    'insufficient_deposit',
    `the free deposit of ${requester} is ${free < 0n ? 0n : free} holon but ${what} is ${amount}; deposit more on EmethCore`,
  );
}
