import type { ContractRunner } from 'ethers';
import { emethCore } from '../../contracts/typed';
import type { EdgeRole } from '../../lib/edge-token';

/**
 * Who may connect to the node edge as what: a node must be registered (staked) on EmethCore, a
 * verifier must be one of the deployment's verifiers (EMETH_VERIFIERS). A keyholder is any
 * requester: its token only ever opens its own `emeth-keyholder-<address>` queue, which carries
 * nothing but that requester's own Jobs.
 */
export function chainRegistry(options: {
  core: string;
  runner: ContractRunner;
  verifiers: readonly string[];
}): (role: EdgeRole, address: string) => Promise<boolean> {
  const core = emethCore(options.core, options.runner);
  const verifiers = new Set(options.verifiers.map((v) => v.toLowerCase()));
  return async (role, address) => {
    if (role === 'node') return (await core.getNode(address)).registered;
    if (role === 'verifier') return verifiers.has(address.toLowerCase());
    return true;
  };
}
