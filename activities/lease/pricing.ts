/**
 * A lease's money (paper 5-2): what one node's period costs, what the whole lease commits, the
 * timeout penalty a node that leaves early pays, and the ids its tickets and stake lock carry.
 * The gateway (at admission) and the lease activities compute them here, the same way.
 */
import { AbiCoder, keccak256 } from 'ethers';
import { BPS, DEFAULT_FEE_PARAMS, type FeeParams } from '../../lib/fees';

/**
 * Holon one node earns per period: hourlyPrice × periodSeconds / 3600, or undefined when that is
 * not a whole holon or is 0 (the gateway refuses such a price).
 */
export function pricePerPeriodOf(hourlyPrice: bigint, periodSeconds: number): bigint | undefined {
  const scaled = hourlyPrice * BigInt(periodSeconds);
  if (scaled % 3600n !== 0n) return undefined;
  const price = scaled / 3600n;
  return price > 0n ? price : undefined;
}

/** What the requester's Commit covers: every node for every period. */
export const leaseBudgetOf = (nodeCount: number, periods: number, pricePerPeriod: bigint): bigint =>
  BigInt(nodeCount) * BigInt(periods) * pricePerPeriod;

/**
 * The penalty of a node that leaves a lease early: the SPEC §4 timeout penalty (timeoutPenaltyRate
 * of the fee limit, as the Dispatcher burns for a SubJob's timeout), the fee limit being what the
 * node stood to earn from the whole lease (periods × pricePerPeriod). A node needs this much free
 * stake to be leased, and the lease locks it until the node leaves or is released.
 */
export function leaveEarlyPenaltyOf(
  periods: number,
  pricePerPeriod: bigint,
  feeParams: FeeParams = DEFAULT_FEE_PARAMS,
): bigint {
  return (BigInt(periods) * pricePerPeriod * feeParams.timeoutPenaltyRate) / BPS;
}

/** The bytes32 "SubJob" id of a node's ticket for one period, under the lease's id as its Job id. */
export function periodTicketId(leaseId: string, period: number, nodeId: string): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['bytes32', 'string', 'uint256', 'address'],
      [leaseId, 'lease-period', period, nodeId],
    ),
  );
}

/** The key EmethCore files a leased node's stake lock and its leave-early penalty under (once). */
export const leaseStakeKey = (leaseId: string, nodeId: string): string =>
  `emeth:lease:${leaseId}:${nodeId.toLowerCase()}`;
