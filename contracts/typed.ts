import { Contract, type BaseContract, type BaseContractMethod, type ContractRunner } from 'ethers';
import { loadArtifact } from './artifacts';

/* Cheap typing: method names are checked, arguments and results are not (ethers decodes them). */

type Method = BaseContractMethod<any[], any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type EmethTokenMethods =
  | 'balanceOf'
  | 'totalSupply'
  | 'transfer'
  | 'transferFrom'
  | 'approve'
  | 'allowance'
  | 'mint'
  | 'burn'
  | 'decimals'
  | 'owner';

export type EmethCoreMethods =
  | 'token'
  | 'BPS'
  | 'DEFAULT_ADMIN_ROLE'
  | 'L1_SERVER_ROLE'
  | 'VERIFIER_ROLE'
  | 'SIGNER_ROLE'
  | 'hasRole'
  | 'grantRole'
  | 'revokeRole'
  | 'setParameter'
  | 'pause'
  | 'unpause'
  | 'paused'
  | 'verifierFeeRate'
  | 'depositRate'
  | 'declinePenaltyRate'
  | 'timeoutPenaltyRate'
  | 'rejectPenaltyRate'
  | 'maxRetries'
  | 'withdrawalDelay'
  | 'unstakeCooldown'
  | 'signerInterval'
  | 'processingTimeLimit'
  | 'minNodeStake'
  | 'totalBurned'
  | 'registerProgram'
  | 'updateProgram'
  | 'getProgram'
  | 'registerNode'
  | 'updateNode'
  | 'addStake'
  | 'requestUnstake'
  | 'unstake'
  | 'getNode'
  | 'request'
  | 'cancel'
  | 'registerSubJobs'
  | 'process'
  | 'decline'
  | 'submit'
  | 'verify'
  | 'reject'
  | 'timeout'
  | 'getJob'
  | 'getSubJob'
  | 'quote'
  | 'splitShares'
  | 'deposit'
  | 'requestWithdrawal'
  | 'cancelWithdrawal'
  | 'withdraw'
  | 'getDeposit'
  | 'freeDeposit'
  | 'redeem'
  | 'redeemMany'
  | 'isRedeemed'
  | 'penalize'
  | 'penaltyApplied'
  | 'hashTicket'
  | 'batchDigest';

export type EmethToken = BaseContract & { [K in EmethTokenMethods]: Method };
export type EmethCore = BaseContract & { [K in EmethCoreMethods]: Method };

export function emethToken(address: string, runner: ContractRunner): EmethToken {
  return new Contract(address, loadArtifact('EmethToken').abi, runner) as unknown as EmethToken;
}

export function emethCore(address: string, runner: ContractRunner): EmethCore {
  return new Contract(address, loadArtifact('EmethCore').abi, runner) as unknown as EmethCore;
}
