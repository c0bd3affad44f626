/**
 * The GPU Mining Program in tests: an EmethMining with short epochs on a suite's chain (deployment
 * fixes the epoch length, so a suite that wants one to close in seconds deploys its own), funded by
 * the token's owner, with EPOCH_POSTER_ROLE for the suite's L2 key.
 */
import { MaxUint256 } from 'ethers';
import { EmethMining__factory, emethToken } from '../../contracts/typed';
import { MINING_DEFAULTS } from '../../contracts/deploy';
import type { TestChain } from './chain';

export interface TestMiningOptions {
  epochSeconds: number;
  /** Holon minted to the deployer and funded into the pool. */
  fund: bigint;
  posters: string[];
  minStake?: bigint;
  claimWindowEpochs?: number;
}

/** Deploys and funds an EmethMining on `chain`; genesis on a whole epoch, as deployContracts does. */
export async function deployTestMining(chain: TestChain, opts: TestMiningOptions): Promise<string> {
  const now = (await chain.provider.getBlock('latest'))!.timestamp;
  const factory = new EmethMining__factory(chain.deployer);
  const contract = await factory.deploy(
    chain.deployment.token,
    chain.deployment.core,
    await chain.deployer.getAddress(),
    opts.epochSeconds,
    Math.floor(now / opts.epochSeconds) * opts.epochSeconds,
    MINING_DEFAULTS.initialReward,
    MINING_DEFAULTS.rewardStep,
    MINING_DEFAULTS.stepEpochs,
    opts.minStake ?? MINING_DEFAULTS.minStake,
    opts.claimWindowEpochs ?? 1_000,
  );
  await contract.waitForDeployment();
  const address = await contract.getAddress();
  const mining = EmethMining__factory.connect(address, chain.deployer);
  for (const poster of opts.posters)
    await (await mining.grantRole(await mining.EPOCH_POSTER_ROLE(), poster)).wait();
  const token = emethToken(chain.deployment.token, chain.deployer);
  await (await token.mint(await chain.deployer.getAddress(), opts.fund)).wait();
  await (await token.approve(address, MaxUint256)).wait();
  await (await mining.fund(opts.fund)).wait();
  return address;
}
