import type { Signer } from 'ethers';
import { EmethCore__factory, EmethL1__factory, EmethToken__factory } from './typed';
import { DEMO_PROGRAMS, type Deployment } from '../lib/types-chain';

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
}

/**
 * Deploys EmethToken and EmethCore, wires the roles and registers the demo programs.
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
    blockNumber: receipt?.blockNumber ?? (await provider.getBlockNumber()),
    deployedAt: new Date().toISOString(),
  };
}
