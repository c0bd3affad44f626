import fs from 'node:fs';
import { createHash } from 'node:crypto';
/**
 * Which participant the edge handed each activity task token to. Filled from poll responses,
 * read by the policy on every heartbeat and answer, emptied when the task is answered or its
 * time is up. Bounded: past `maxEntries` the entries closest to expiry go first (a participant
 * can only grow it with tasks the L2 scheduled on its own queue, so the bound is a safety net).
 */
export interface TaskTokenLedgerOptions {
  /**
   * A 0600 file the ledger journals its grants to (token hashes, never tokens) and reloads at start,
   * so a restarted L2 still lets a participant answer the task it was handed before the restart.
   */
  journal?: string;
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

  private readonly journal?: string;

  constructor(options: TaskTokenLedgerOptions = {}, now = Date.now()) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.graceMs = options.graceMs ?? 60_000;
    this.defaultTtlMs = options.defaultTtlMs ?? 24 * 3600_000;
    this.journal = options.journal;
    if (this.journal) this.reload(this.journal, now);
  }

  /** Replays the journal (grants, then forgets), keeps what has not expired, and compacts the file. */
  private reload(file: string, now: number): void {
    if (fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const e = JSON.parse(line) as { k: string; h?: string; e?: number };
          if (e.h && e.e && e.e > now) this.entries.set(e.k, { holder: e.h, expiresAt: e.e });
          else this.entries.delete(e.k);
        } catch {
          // A torn last line after a crash: ignore it.
        }
      }
    }
    const live = [...this.entries].map(([k, v]) => JSON.stringify({ k, h: v.holder, e: v.expiresAt }) + '\n');
    fs.writeFileSync(file, live.join(''), { mode: 0o600 });
    fs.chmodSync(file, 0o600);
  }

  private append(line: object): void {
    if (this.journal) fs.appendFileSync(this.journal, JSON.stringify(line) + '\n', { mode: 0o600 });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records that `holder` received `token`, for the task's own lifetime (`taskTtlMs`, when it has one) plus grace. */
  record(token: Uint8Array, holder: string, now: number, taskTtlMs?: number): void {
    const key = keyOf(token);
    this.entries.delete(key);
    const ttl = taskTtlMs && taskTtlMs > 0 ? taskTtlMs : this.defaultTtlMs;
    const entry = { holder: holder.toLowerCase(), expiresAt: now + ttl + this.graceMs };
    this.entries.set(key, entry);
    this.append({ k: key, h: entry.holder, e: entry.expiresAt });
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
    const key = keyOf(token);
    if (this.entries.delete(key)) this.append({ k: key });
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

/** A token's sha-256: the ledger (and its journal) never holds the capability itself. */
function keyOf(token: Uint8Array): string {
  return createHash('sha256').update(token).digest('base64');
}
