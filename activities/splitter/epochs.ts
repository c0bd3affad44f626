/** An epoch's part of a Job-wide amount; the last epoch takes the remainder so the parts sum exactly. */
export function epochShare(total: bigint, epoch: number, epochs: number): bigint {
  const each = total / BigInt(epochs);
  return epoch === epochs - 1 ? total - each * BigInt(epochs - 1) : each;
}
