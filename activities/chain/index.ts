/**
 * EmethCore and EmethToken from TypeScript, typed by TypeChain's generated bindings:
 * - `createEmethCoreClient` (alias `createL2Chain`): the L2 server's client (reads, commitments,
 *   per-attempt stake locks, penalties); `signCommit`: the requester's authorization it sends.
 * - `createChainActivities`: an account's activities (deposits, staking, tickets) and the L1 job
 *   activities, sharing one serialized signer so concurrent activities never collide on a nonce.
 */
import { createAccountActivities } from './account';
import { createL1Activities } from './l1';
import { createChainTx, type ChainDeps } from './tx';

export {
  attemptKeyId,
  createEmethCoreClient,
  createL2Chain,
  type ChainCommitment,
  type ChainStakeLock,
  type EmethCoreClient,
  type L2Chain,
} from './core-client';
export { COMMIT_TYPES, commitDigest, recoverCommitSigner, signCommit, type Commit } from './commitments';
export {
  createAccountActivities,
  type AccountActivities,
  type RedeemInput,
  type RedeemResult,
} from './account';
export { createL1Activities, type L1Activities, type RequestJobInput } from './l1';
export {
  datasetId32,
  l1RequestDigest,
  recoverL1RequestSigner,
  REQUEST_TYPES,
  signL1Request,
  type L1Request,
} from './l1-requests';
export type { ChainDeposit, ChainJob, ChainNode, ChainSubJob } from './reads';
export {
  ChainStateError,
  createChainTx,
  type Amount,
  type ChainDeps,
  type ChainTx,
  type TxResult,
} from './tx';

export function createChainActivities(deps: ChainDeps) {
  const tx = createChainTx(deps);
  return { ...createAccountActivities(tx), ...createL1Activities(tx) };
}

export type ChainActivities = ReturnType<typeof createChainActivities>;
