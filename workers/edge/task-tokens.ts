/**
 * Which participant the edge handed each activity task token to. Filled from poll responses,
 * read by the policy on every heartbeat and answer, emptied when the task is answered or its
 * time is up. Bounded: past `maxEntries` the entries closest to expiry go first (a participant
 * can only grow it with tasks the L2 scheduled on its own queue, so the bound is a safety net).
 */
export interface TaskTokenLedgerOptions {
  maxEntries?: number;
  /** How long after the task's own timeouts an entry is kept, for a late heartbeat or answer. */
  graceMs?: number;
  /** Lifetime of an entry whose task names no timeout. */
  defaultTtlMs?: number;
}

interface Entry {
  holder: string;
  expiresAt: number;
}

export class TaskTokenLedger {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly graceMs: number;
  private readonly defaultTtlMs: number;

  constructor(options: TaskTokenLedgerOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.graceMs = options.graceMs ?? 60_000;
    this.defaultTtlMs = options.defaultTtlMs ?? 24 * 3600_000;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records that `holder` received `token`, for the task's own lifetime (`taskTtlMs`, when it has one) plus grace. */
  record(token: Uint8Array, holder: string, now: number, taskTtlMs?: number): void {
    const key = keyOf(token);
    this.entries.delete(key);
    const ttl = taskTtlMs && taskTtlMs > 0 ? taskTtlMs : this.defaultTtlMs;
    this.entries.set(key, { holder: holder.toLowerCase(), expiresAt: now + ttl + this.graceMs });
    if (this.entries.size > this.maxEntries) this.evict(now);
  }

  holderOf(token: Uint8Array, now: number): string | undefined {
    const key = keyOf(token);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.holder;
  }

  forget(token: Uint8Array): void {
    this.entries.delete(keyOf(token));
  }

  private evict(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    if (this.entries.size <= this.maxEntries) return;
    // Down to 90 %, so a full ledger sorts once per many inserts, not on each.
    const target = Math.floor(this.maxEntries * 0.9);
    const byExpiry = [...this.entries].sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [key] of byExpiry.slice(0, this.entries.size - target)) this.entries.delete(key);
  }
}

function keyOf(token: Uint8Array): string {
  return Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('base64');
}
