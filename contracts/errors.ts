import { Interface, type ErrorDescription, type InterfaceAbi } from 'ethers';
import { loadArtifact, type ContractName } from './artifacts';

/**
 * A contract call reverted with a known custom error. The message names the rule, e.g.
 * `EmethCore reverted: TicketAlreadyRedeemed(root=0x…, index=3)`.
 */
export class ContractRevertError extends Error {
  constructor(
    readonly contract: string,
    readonly errorName: string,
    readonly args: Record<string, unknown>,
    readonly action: string | undefined,
    options?: { cause?: unknown },
  ) {
    const list = Object.entries(args)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(', ');
    super(`${contract} reverted: ${errorName}(${list})${action ? ` during ${action}` : ''}`, options);
    this.name = 'ContractRevertError';
  }
}

const interfaces = new Map<string, Interface>();

function iface(name: ContractName): Interface {
  let i = interfaces.get(name);
  if (!i) {
    i = new Interface(loadArtifact(name).abi as InterfaceAbi);
    interfaces.set(name, i);
  }
  return i;
}

/** Revert data hidden somewhere in an ethers / JSON-RPC error. */
export function revertData(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number): string | undefined => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 6) return undefined;
    seen.add(e);
    const o = e as Record<string, unknown>;
    if (typeof o.data === 'string' && /^0x[0-9a-fA-F]{8}/.test(o.data)) return o.data;
    for (const key of ['error', 'info', 'cause', 'data', 'payload']) {
      const found = walk(o[key], depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  return walk(err, 0);
}

/**
 * Decodes the custom error (or Error(string)) of a failed EMETH contract call; undefined if none.
 * Some errors exist in two contracts with one selector (EmethCore's and EmethMining's
 * `NodeNotRegistered(address)`, `ZeroAmount()`, `LengthMismatch()`): `called` — the contract the
 * call went to — is tried first, so the message names the contract that refused.
 */
export function decodeRevert(
  err: unknown,
  called?: ContractName,
): { contract: string; error: ErrorDescription } | undefined {
  const data = revertData(err);
  if (!data) return undefined;
  const order: ContractName[] = ['EmethCore', 'EmethMining', 'EmethToken'];
  if (called) order.unshift(called);
  for (const name of order) {
    try {
      const error = iface(name).parseError(data);
      if (error) return { contract: name, error };
    } catch {
      /* not this contract's error */
    }
  }
  return undefined;
}

/** Rethrows a failed call as a ContractRevertError naming the rule, or returns the original error. */
export function explainRevert(err: unknown, action?: string, called?: ContractName): Error {
  const decoded = decodeRevert(err, called);
  if (!decoded) return err instanceof Error ? err : new Error(String(err));
  const args: Record<string, unknown> = {};
  decoded.error.fragment.inputs.forEach((input, i) => {
    args[input.name || `arg${i}`] = decoded.error.args[i];
  });
  return new ContractRevertError(decoded.contract, decoded.error.name, args, action, { cause: err });
}
