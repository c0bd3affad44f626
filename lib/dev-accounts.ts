import { HDNodeWallet, Mnemonic } from 'ethers';

/**
 * anvil's well-known development mnemonic and the role EMETH's embedded stack gives each account.
 * Only for the local dev chain: these keys are public.
 */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';

export const DEV_ROLES = {
  deployer: 0,
  verifier: 1,
  node1: 2,
  node2: 3,
  node3: 4,
  requester: 5,
  node4: 6,
  node5: 7,
  l2: 8,
} as const;

export function devKey(index: number): string {
  return HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${index}`).privateKey;
}
