import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { emethCore, emethToken } from '../../contracts/typed';
import { ANVIL_DEV_KEY, ANVIL_DEV_L2_KEY } from '../../lib/config';
import type { Deployment } from '../../lib/types-chain';
import { deployContracts } from '../../contracts/deploy';
import { startAnvil, type Anvil } from '../../cli/stack/anvil';

export interface TestChain {
  anvil: Anvil;
  provider: JsonRpcProvider;
  deployer: NonceManager;
  deployment: Deployment;
  stop(): Promise<void>;
}

/** A fresh anvil on a free port with EMETH's contracts deployed: one per suite. */
export async function startTestChain(): Promise<TestChain> {
  const anvil = await startAnvil();
  const provider = new JsonRpcProvider(anvil.rpcUrl, undefined, { batchStallTime: 0, cacheTimeout: -1 });
  const deployer = new NonceManager(new Wallet(ANVIL_DEV_KEY, provider));
  try {
    // As on the embedded stack: the L2 key (its own account) signs batches and burns penalties.
    const l2 = new Wallet(ANVIL_DEV_L2_KEY).address;
    // The L2 key also registers L1 Jobs' SubJobs; test verifiers get VERIFIER_ROLE (grantVerifier).
    const deployment = await deployContracts(deployer, { signers: [l2], verifiers: [l2], l1Servers: [l2] });
    return {
      anvil,
      provider,
      deployer,
      deployment,
      async stop() {
        provider.destroy();
        await anvil.stop();
      },
    };
  } catch (err) {
    provider.destroy();
    await anvil.stop();
    throw err;
  }
}

/** VERIFIER_ROLE on EmethCore for `who`: it may verify, reject and time out L1 SubJobs. */
export async function grantVerifier(chain: TestChain, who: string): Promise<void> {
  const core = emethCore(chain.deployment.core, chain.deployer);
  const role = await core.VERIFIER_ROLE();
  if (!(await core.hasRole(role, who))) await (await core.grantRole(role, who)).wait();
}

async function funded(chain: TestChain, who: { address: string; privateKey: string }, amount: bigint) {
  const signer = new NonceManager(new Wallet(who.privateKey, chain.provider));
  await chain.provider.send('anvil_setBalance', [who.address, '0x56BC75E2D63100000']);
  const token = emethToken(chain.deployment.token, chain.deployer);
  await (await token.mint(who.address, amount)).wait();
  await (await token.connect(signer).approve(chain.deployment.core, amount)).wait();
  return { signer, core: emethCore(chain.deployment.core, signer) };
}

/** Mints `amount` to `who` and deposits it on EmethCore (its L2 deposit). */
export async function depositOnChain(
  chain: TestChain,
  who: { address: string; privateKey: string },
  amount: bigint,
): Promise<void> {
  const { core } = await funded(chain, who, amount);
  await (await core.deposit(amount)).wait();
}

/** Mints `amount` to `who` and registers it as a node staking all of it. */
export async function stakeOnChain(
  chain: TestChain,
  who: { address: string; privateKey: string },
  amount: bigint,
): Promise<void> {
  const { core } = await funded(chain, who, amount);
  await (await core.registerNode(amount, '0x' + '00'.repeat(32), 1)).wait();
}
