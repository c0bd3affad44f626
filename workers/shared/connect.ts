import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import type { EmethConfig } from '../../lib/config';

/** A signer on the configured chain that serialises its own nonces (anvil rejects concurrent guesses). */
export function chainSigner(
  config: EmethConfig,
  key: string,
): { provider: JsonRpcProvider; wallet: Wallet; signer: NonceManager } {
  const provider = new JsonRpcProvider(config.chain.rpcUrl, undefined, { batchStallTime: 0 });
  const wallet = new Wallet(key, provider);
  return { provider, wallet, signer: new NonceManager(wallet) };
}
