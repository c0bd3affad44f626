/**
 * Marks an activity argument for its reader only (workflow-safe: no crypto here). The L2's payload
 * codec (lib/sealed-payloads) turns `{ $sealTo, value }` into an envelope that only the listed
 * X25519 keys (and the L2's own) open; the participant's activity then receives `value` itself,
 * which is why the marker is typed as the value it carries.
 */
export const SEAL_MARKER = '$sealTo';

export function sealTo<T>(recipients: readonly string[], value: T): T {
  return { [SEAL_MARKER]: recipients, value } as unknown as T;
}
