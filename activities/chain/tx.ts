/**
 * The send machinery every chain activity shares: one SerialSigner per worker key (so concurrent
 * activities never collide on a nonce), typed EmethCore/EmethToken handles over it, and `send`,
 * which waits for the receipt and turns a revert into a ContractRevertError naming the rule.
 */
import { NonceManager, type Provider, type Signer, type TransactionReceipt } from 'ethers';
import { explainRevert } from '../../contracts/errors';
import { SerialSigner } from '../../contracts/serial-signer';
import { emethCore, emethToken, type EmethCore, type EmethToken } from '../../contracts/typed';
import type { Deployment } from '../../lib/types-chain';
import type { Logger } from '../../lib/logger';

/** Amounts cross Temporal as decimal strings (bigint is not JSON); inputs accept bigint too. */
export type Amount = bigint | string;

export interface ChainDeps {
  provider: Provider;
  /** The key this worker acts with (requester, node, verifier, signer or L1 server). */
  signer: Signer;
  deployment: Deployment;
  logger?: Logger;
  /** Blocks to wait for after each transaction. Default 1 (anvil automines). */
  confirmations?: number;
}

export interface TxResult {
  /** True when the effect was already on chain and nothing was sent. */
  alreadyDone: boolean;
  txHash?: string;
  blockNumber?: number;
  gasUsed?: string;
}

/** The chain is not in a state where this action makes sense (and it was not already done). */
export class ChainStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChainStateError';
  }
}

export interface ChainTx {
  deps: ChainDeps;
  core: EmethCore;
  token: EmethToken;
  /** This worker's address. */
  self(): Promise<string>;
  /** Sends one contract call, waits for it, and turns a revert into a ContractRevertError. */
  send(
    action: string,
    fields: Record<string, unknown>,
    call: () => Promise<{ wait(n?: number): Promise<TransactionReceipt | null> }>,
  ): Promise<TxResult>;
  /** The result of an action whose effect is already on chain (logged, nothing sent). */
  done(action: string, fields: Record<string, unknown>): TxResult;
}

export function createChainTx(deps: ChainDeps): ChainTx {
  // ethers' NonceManager would re-number our transactions (and burns nonces on failed
  // estimates): unwrap it and count nonces in a SerialSigner instead.
  const inner = deps.signer instanceof NonceManager ? deps.signer.signer : deps.signer;
  const signer = inner instanceof SerialSigner ? inner : new SerialSigner(inner, deps.provider);
  const confirmations = deps.confirmations ?? 1;
  const log = deps.logger;
  let me: string | undefined;
  return {
    deps,
    core: emethCore(deps.deployment.core, signer),
    token: emethToken(deps.deployment.token, signer),
    self: async () => (me ??= await signer.getAddress()),
    async send(action, fields, call) {
      try {
        const tx = await call();
        const receipt = await tx.wait(confirmations);
        if (!receipt || receipt.status !== 1)
          throw new ChainStateError(`${action} was mined but reverted (tx ${receipt?.hash ?? '?'})`);
        log?.info(
          { action, ...fields, txHash: receipt.hash, gasUsed: receipt.gasUsed.toString() },
          `chain: ${action}`,
        );
        return {
          alreadyDone: false,
          txHash: receipt.hash,
          blockNumber: receipt.blockNumber,
          gasUsed: receipt.gasUsed.toString(),
        };
      } catch (err) {
        const explained = explainRevert(err, action);
        log?.warn({ action, ...fields, err: explained.message }, `chain: ${action} failed`);
        throw explained;
      }
    },
    done(action, fields) {
      log?.info({ action, ...fields }, `chain: ${action} already done`);
      return { alreadyDone: true };
    },
  };
}
