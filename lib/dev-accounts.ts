import { HDNodeWallet, Mnemonic } from 'ethers';
import { DEV_STORAGE_KEY } from './config';

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
  /** The ticket signer (SIGNER_ROLE), a key apart from the L2's. */
  signer: 9,
} as const;

export function devKey(index: number): string {
  return HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${index}`).privateKey;
}

/** How many of the mnemonic's accounts count as public: anvil's default 10, and room for `--accounts`. */
const PUBLIC_ACCOUNTS = 20;

let publicKeys: ReadonlySet<string> | undefined;

/**
 * Every private key anyone can look up: the mnemonic's first accounts and EMETH's development
 * storage key, in lower case. The L2 refuses them on any chain but the embedded anvil (assertL2Keys).
 */
export function publicDevKeys(): ReadonlySet<string> {
  if (!publicKeys) {
    const root = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), "m/44'/60'/0'/0");
    const keys = new Set<string>([DEV_STORAGE_KEY.toLowerCase()]);
    for (let i = 0; i < PUBLIC_ACCOUNTS; i++) keys.add(root.deriveChild(i).privateKey.toLowerCase());
    publicKeys = keys;
  }
  return publicKeys;
}
