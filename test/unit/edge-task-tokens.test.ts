import { TaskTokenLedger } from '../../workers/edge/task-tokens';

const t = (n: number) => new Uint8Array([n, n + 1, n + 2]);
const A = '0x' + 'a'.repeat(40);
const B = '0x' + 'b'.repeat(40);

describe('the edge task token ledger', () => {
  it('remembers who received a token, by its bytes, until the task time and grace are over', () => {
    const ledger = new TaskTokenLedger({ graceMs: 1000 });
    ledger.record(t(1), A.toUpperCase().replace('0X', '0x'), 0, 5000);
    expect(ledger.holderOf(new Uint8Array([1, 2, 3]), 5999)).toBe(A);
    expect(ledger.holderOf(t(1), 6000)).toBeUndefined();
    expect(ledger.size).toBe(0);
  });

  it('forgets an answered task', () => {
    const ledger = new TaskTokenLedger();
    ledger.record(t(1), A, 0, 5000);
    ledger.forget(t(1));
    expect(ledger.holderOf(t(1), 1)).toBeUndefined();
  });

  it('gives a task without timeouts the default lifetime', () => {
    const ledger = new TaskTokenLedger({ defaultTtlMs: 10_000, graceMs: 0 });
    ledger.record(t(1), A, 0);
    expect(ledger.holderOf(t(1), 9_999)).toBe(A);
    expect(ledger.holderOf(t(1), 10_000)).toBeUndefined();
  });

  it('stays within its bound, dropping the entries closest to expiry first', () => {
    const ledger = new TaskTokenLedger({ maxEntries: 10, graceMs: 0 });
    for (let i = 0; i < 11; i++) ledger.record(t(i * 3), i === 0 ? B : A, 0, 1000 + i);
    expect(ledger.size).toBeLessThanOrEqual(10);
    expect(ledger.holderOf(t(0), 1)).toBeUndefined();
    expect(ledger.holderOf(t(30), 1)).toBe(A);
  });
});
