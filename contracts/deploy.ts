import type { Signer } from 'ethers';
import { EmethCore__factory, EmethL1__factory, EmethMining__factory, EmethToken__factory } from './typed';
import { DEMO_PROGRAMS, type Deployment } from '../lib/types-chain';

const EMETH = 10n ** 18n;

/**
 * The GPU Mining Program's production parameters (paper §3-4, contracts/EmethMining.sol): 12,000
 * EMETH an epoch, 600 less every 8,760 epochs (a year of hours), so zero after 20 years.
 */
export const MINING_DEFAULTS = {
  epochSeconds: 3_600,
  initialReward: 12_000n * EMETH,
  rewardStep: 600n * EMETH,
  stepEpochs: 8_760,
  /** A node needs this much stake on EmethCore when it claims (paper silent; settable by the admin). */
  minStake: 10n * EMETH,
  /** How long an epoch stays claimable after it is posted (paper silent), as a duration. */
  claimWindowSeconds: 30 * 24 * 3_600,
} as const;

export type { Deployment } from '../lib/types-chain';

export interface DeployOptions {
  /** Owner/governance (DEFAULT_ADMIN_ROLE of EmethCore, owner of EmethToken). Default: the deployer. */
  admin?: string;
  /** Addresses given L1_SERVER_ROLE. Default: [deployer]. */
  l1Servers?: string[];
  /** Addresses given VERIFIER_ROLE. Default: [deployer]. */
  verifiers?: string[];
  /** Addresses given SIGNER_ROLE. Default: [deployer]. */
  signers?: string[];
  /**
   * Addresses given L2_SERVER_ROLE (commit deposits, lock stake per attempt, burn L2 penalties).
   * Default: the signers, since the L2 server signs ticket batches with the same key.
   */
  l2Servers?: string[];
  /** Register the demo programs 1→11, 2→21, 3→31. Default true. */
  registerDemoPrograms?: boolean;
  /** minFuelPrice of the demo programs, in holon. Default 0. */
  demoMinFuelPrice?: bigint;
  /** Deploy EmethMining (the GPU Mining Program) too. Default true. */
  mining?: boolean;
  /**
   * Seconds per mining epoch: a constructor parameter, fixed for the contract's life. Default
   * 3,600. The count-based parameters stay the paper's whatever the length (12,000 EMETH an epoch,
   * a step every 8,760 epochs): a shorter epoch stands for an hour on a dev chain.
   */
  miningEpochSeconds?: number;
  /** Start of epoch 0 (unix s). Default: the chain's time rounded down to a whole epoch. */
  miningGenesis?: number;
  /** Pool of each epoch of the first step, holon. Default 12,000 EMETH. */
  miningInitialReward?: bigint;
  /** What the pool falls by at each step, holon. Default 600 EMETH. */
  miningRewardStep?: bigint;
  /** Epochs per step. Default 8,760. */
  miningStepEpochs?: number;
  /** Stake (holon, on EmethCore) a node needs when it claims. Default 10 EMETH. */
  miningMinStake?: bigint;
  /** How long a posted epoch stays claimable, in seconds (rounded up to whole epochs). Default 30 days. */
  miningClaimWindowSeconds?: number;
  /** Addresses given EPOCH_POSTER_ROLE on EmethMining. Default: the L2 servers. */
  miningPosters?: string[];
  /** Holon the deployer mints (as the token's first owner) and funds the reward pool with. Default 0. */
  miningFund?: bigint;
}

/**
 * Deploys EmethToken, EmethCore (with its L1 extension) and EmethMining, wires the roles, registers
 * the demo programs and, in development, funds the mining pool.
 * Transactions are sent one after another and each is awaited, so any signer (a Wallet, a
 * NonceManager) works; the whole thing takes a few hundred ms on anvil.
 */
export async function deployContracts(signer: Signer, opts: DeployOptions = {}): Promise<Deployment> {
  const provider = signer.provider;
  if (!provider) throw new Error('deployContracts needs a signer connected to a provider');
  const deployer = await signer.getAddress();
  const admin = opts.admin ?? deployer;

  // The deployer owns the token first so it can mint for demos; ownership moves to `admin` below.
  const token = await new EmethToken__factory(signer).deploy(deployer);
  await token.waitForDeployment();
  const tokenAddress = await token.getAddress();
  // EmethCore runs its L1 job functions in this extension (see contracts/EmethL1.sol).
  const l1 = await new EmethL1__factory(signer).deploy(tokenAddress);
  await l1.waitForDeployment();
  // The deployer administers the core while it wires roles, then hands over to `admin`.
  const core = await new EmethCore__factory(signer).deploy(tokenAddress, deployer, await l1.getAddress());
  await core.waitForDeployment();
  const coreAddress = await core.getAddress();

  const send = async (p: Promise<{ wait(): Promise<unknown> }>): Promise<void> => {
    await (await p).wait();
  };
  const roles: [string, string[]][] = [
    [await core.L1_SERVER_ROLE(), opts.l1Servers ?? [deployer]],
    [await core.VERIFIER_ROLE(), opts.verifiers ?? [deployer]],
    [await core.SIGNER_ROLE(), opts.signers ?? [deployer]],
    [await core.L2_SERVER_ROLE(), opts.l2Servers ?? opts.signers ?? [deployer]],
  ];
  for (const [role, members] of roles) {
    for (const member of members) await send(core.grantRole(role, member));
  }
  if (opts.registerDemoPrograms ?? true) {
    for (const p of DEMO_PROGRAMS) {
      await send(core.registerProgram(p.programId, p.subProgramId, opts.demoMinFuelPrice ?? 0n, true));
    }
  }

  let miningAddress: string | undefined;
  if (opts.mining ?? true) {
    const epochSeconds = opts.miningEpochSeconds ?? MINING_DEFAULTS.epochSeconds;
    if (!Number.isSafeInteger(epochSeconds) || epochSeconds <= 0)
      throw new Error(`miningEpochSeconds must be a positive integer, got ${epochSeconds}`);
    const chainNow = (await provider.getBlock('latest'))?.timestamp ?? Math.floor(Date.now() / 1000);
    // Epochs on whole multiples of their length: hourly epochs start on the hour, and a Temporal
    // Schedule every epochSeconds (anchored at the unix epoch) fires at their ends.
    const genesis = opts.miningGenesis ?? Math.floor(chainNow / epochSeconds) * epochSeconds;
    const claimWindow = Math.ceil(
      (opts.miningClaimWindowSeconds ?? MINING_DEFAULTS.claimWindowSeconds) / epochSeconds,
    );
    const mining = await new EmethMining__factory(signer).deploy(
      tokenAddress,
      coreAddress,
      deployer,
      epochSeconds,
      genesis,
      opts.miningInitialReward ?? MINING_DEFAULTS.initialReward,
      opts.miningRewardStep ?? MINING_DEFAULTS.rewardStep,
      opts.miningStepEpochs ?? MINING_DEFAULTS.stepEpochs,
      opts.miningMinStake ?? MINING_DEFAULTS.minStake,
      Math.max(1, claimWindow),
    );
    await mining.waitForDeployment();
    miningAddress = await mining.getAddress();
    const posterRole = await mining.EPOCH_POSTER_ROLE();
    for (const poster of opts.miningPosters ?? opts.l2Servers ?? opts.signers ?? [deployer])
      await send(mining.grantRole(posterRole, poster));
    if (opts.miningFund && opts.miningFund > 0n) {
      await send(token.mint(deployer, opts.miningFund));
      await send(token.approve(miningAddress, opts.miningFund));
      await send(mining.fund(opts.miningFund));
    }
    if (admin.toLowerCase() !== deployer.toLowerCase()) {
      const adminRole = await mining.DEFAULT_ADMIN_ROLE();
      await send(mining.grantRole(adminRole, admin));
      await send(mining.renounceRole(adminRole, deployer));
    }
  }

  if (admin.toLowerCase() !== deployer.toLowerCase()) {
    const adminRole = await core.DEFAULT_ADMIN_ROLE();
    await send(core.grantRole(adminRole, admin));
    await send(core.renounceRole(adminRole, deployer));
    await send(token.transferOwnership(admin));
  }

  const receipt = await provider.getTransactionReceipt(core.deploymentTransaction()!.hash);
  const network = await provider.getNetwork();
  return {
    chainId: Number(network.chainId),
    deployer,
    token: tokenAddress,
    core: coreAddress,
    ...(miningAddress ? { mining: miningAddress } : {}),
    blockNumber: receipt?.blockNumber ?? (await provider.getBlockNumber()),
    deployedAt: new Date().toISOString(),
  };
}
