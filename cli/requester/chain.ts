/**
 * The chain as the requester's and node's commands see it: EmethCore and EmethToken through the
 * TypeChain bindings, at the deployment the rest of EMETH uses (lib/config, readDeployment), and
 * every failed call turned into one sentence naming the contract's custom error and what to do.
 */
import {
  JsonRpcProvider,
  type ErrorDescription,
  type Interface,
  type Signer,
  type TransactionReceipt,
} from 'ethers';
import type { EmethConfig } from '../../lib/config';
import { EmethError } from '../../lib/errors';
import type { Deployment } from '../../lib/types-chain';
import { revertData } from '../../contracts/errors';
import {
  EmethCore__factory,
  EmethToken__factory,
  emethCore,
  emethToken,
  type EmethCore,
  type EmethToken,
} from '../../contracts/typed';
import { readDeployment } from '../../workers/shared/deployment';
import { emeth, when } from './args';

export interface ChainContext {
  config: EmethConfig;
  deployment: Deployment;
  provider: JsonRpcProvider;
  /** Connected to the signer when one was given, else read-only. */
  core: EmethCore;
  token: EmethToken;
  /** The token's decimals (EMETH: 18). */
  decimals: number;
  /** `holon` as "12.5 EMETH" in this token's decimals. */
  fmt(holon: bigint): string;
  /** The latest block's timestamp: the clock EmethCore's delays run on. */
  now(): Promise<number>;
  /** Sends one call and waits for it to be mined; a revert becomes a ChainRefusal. */
  send(
    action: string,
    call: () => Promise<{ wait(): Promise<TransactionReceipt | null> }>,
  ): Promise<TransactionReceipt>;
  close(): void;
}

/** EmethCore or EmethToken refused a call (or the chain could not be used): the message says what to do. */
export class ChainRefusal extends EmethError {
  constructor(
    message: string,
    readonly errorName?: string,
    options?: { cause?: unknown },
  ) {
    super('CHAIN', message, options);
  }
}

export async function chainContext(config: EmethConfig, signer?: Signer): Promise<ChainContext> {
  const deployment = readDeployment(config.chain.deploymentFile);
  // staticNetwork: ethers would otherwise retry a chain that does not answer forever; fresh reads
  // (cacheTimeout -1) because these numbers decide what to send.
  const provider = new JsonRpcProvider(config.chain.rpcUrl, deployment.chainId, {
    staticNetwork: true,
    batchStallTime: 0,
    cacheTimeout: -1,
  });
  const runner = signer ? signer.connect(provider) : provider;
  const core = emethCore(deployment.core, runner);
  const token = emethToken(deployment.token, runner);
  let decimals = 18;
  try {
    if ((await provider.getCode(deployment.core)) === '0x') {
      throw new ChainRefusal(
        `there is no EmethCore at ${deployment.core} on the chain at ${config.chain.rpcUrl}: ${config.chain.deploymentFile} belongs to another chain; run \`emeth up\` or set EMETH_DEPLOYMENT_FILE and EMETH_CHAIN_RPC to the same deployment`,
      );
    }
    decimals = Number(await token.decimals());
  } catch (err) {
    provider.destroy();
    throw chainFailure(err, 'reading the deployment', config, 18);
  }
  const fmt = (holon: bigint) => emeth(holon, decimals);
  return {
    config,
    deployment,
    provider,
    core,
    token,
    decimals,
    fmt,
    async now() {
      const block = await provider.getBlock('latest');
      return block?.timestamp ?? Math.floor(Date.now() / 1000);
    },
    async send(action, call) {
      try {
        const tx = await call();
        const receipt = await tx.wait();
        if (!receipt || receipt.status !== 1)
          throw new ChainRefusal(
            `${action} was mined but reverted (tx ${receipt?.hash ?? '?'}); run it again`,
          );
        return receipt;
      } catch (err) {
        throw chainFailure(err, action, config, decimals);
      }
    },
    close: () => provider.destroy(),
  };
}

const INTERFACES: [string, Interface][] = [
  ['EmethCore', EmethCore__factory.createInterface()],
  ['EmethToken', EmethToken__factory.createInterface()],
];

/** The custom error in a failed call's revert data, decoded with the TypeChain ABIs; undefined if none. */
export function decodeChainError(err: unknown): { contract: string; error: ErrorDescription } | undefined {
  const data = revertData(err);
  if (!data) return undefined;
  for (const [contract, iface] of INTERFACES) {
    try {
      const error = iface.parseError(data);
      if (error) return { contract, error };
    } catch {
      /* not this contract's error */
    }
  }
  return undefined;
}

/** A failed chain call as one sentence: the custom error's meaning and what to do, else the cause. */
export function chainFailure(
  err: unknown,
  action: string,
  config: EmethConfig,
  decimals: number,
): EmethError {
  if (err instanceof EmethError) return err;
  const decoded = decodeChainError(err);
  if (decoded) {
    const { name, args } = decoded.error;
    return new ChainRefusal(
      `${decoded.contract} refused ${action} with ${name}: ${advice(name, [...args], decimals)}`,
      name,
      { cause: err },
    );
  }
  const e = err as { code?: string; shortMessage?: string; message?: string };
  if (e.code === 'INSUFFICIENT_FUNDS')
    return new ChainRefusal(
      `${action} needs gas but the wallet has no ETH on the chain at ${config.chain.rpcUrl}; send the wallet some ETH first`,
      undefined,
      { cause: err },
    );
  const text = `${e.shortMessage ?? e.message ?? String(err)}`;
  if (
    /ECONNREFUSED|fetch failed|ENOTFOUND|EHOSTUNREACH|socket hang up|ETIMEDOUT/i.test(
      text + String((err as { cause?: unknown }).cause ?? ''),
    )
  )
    return new ChainRefusal(
      `could not reach the chain at ${config.chain.rpcUrl} for ${action}; start it with \`emeth up\` or set EMETH_CHAIN_RPC`,
      undefined,
      { cause: err },
    );
  return new ChainRefusal(
    `${action} failed on the chain at ${config.chain.rpcUrl}: ${text.split('\n')[0]}`,
    undefined,
    {
      cause: err,
    },
  );
}

/** What a custom error means for the person at the command line. */
function advice(name: string, args: unknown[], decimals: number): string {
  const amount = (v: unknown) => emeth(BigInt(v as bigint), decimals);
  const at = (v: unknown) => when(Number(v), Math.floor(Date.now() / 1000));
  switch (name) {
    case 'ZeroAmount':
      return 'the amount is 0; give an amount above 0';
    case 'InsufficientFreeDeposit':
      return `${amount(args[1])} asked for but only ${amount(args[2])} of the deposit is free (the rest is committed to Jobs or already pending withdrawal); ask for at most that`;
    case 'NoPendingWithdrawal':
      return 'no withdrawal is pending; request one with `emeth withdraw [<EMETH>]`';
    case 'WithdrawalNotReady':
      return `the pending withdrawal becomes withdrawable at ${at(args[1])}; run \`emeth withdraw\` again then`;
    case 'NodeNotRegistered':
      return `${String(args[0])} is not a registered node; start one with \`emeth node start\``;
    case 'InsufficientFreeStake':
      return `${amount(args[1])} asked for but only ${amount(args[2])} of the stake is free (the rest is locked by running attempts); ask for at most that`;
    case 'NothingUnstaking':
      return 'nothing is waiting to be unstaked; request it with `emeth node unstake [<EMETH>]`';
    case 'UnstakeNotReady':
      return `the stake unlocks at ${at(args[1])}; run \`emeth node unstake\` again then`;
    case 'EnforcedPause':
      return 'EmethCore is paused by its administrator; try again once it is unpaused';
    case 'ERC20InsufficientBalance':
      return `the wallet holds ${amount(args[1])} but ${amount(args[2])} is needed; get more EMETH into the wallet first`;
    case 'ERC20InsufficientAllowance':
      return `EmethCore may take only ${amount(args[1])} of the wallet's EMETH but needs ${amount(args[2])}; run the command again to approve it`;
    case 'SafeERC20FailedOperation':
      return 'the token transfer failed; check the wallet balance and try again';
    default: {
      const list = args.map((a) => String(a)).join(', ');
      return `${name}(${list}); see docs/contracts.md for the rule`;
    }
  }
}
