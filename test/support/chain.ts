import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
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
  const provider = new JsonRpcProvider(anvil.rpcUrl, undefined, { batchStallTime: 0 });
  const deployer = new NonceManager(new Wallet(ANVIL_DEV_KEY, provider));
  try {
    // As on the embedded stack: the L2 key (its own account) signs batches and burns penalties.
    const l2 = new Wallet(ANVIL_DEV_L2_KEY).address;
    const deployment = await deployContracts(deployer, { signers: [l2], verifiers: [l2] });
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
