import { Signature, Wallet, verifyMessage } from 'ethers';
import {
  AUTH_HEADERS,
  REPLAY_WINDOW_SECONDS,
  canonicalSignature,
  requestMessage,
  requestScope,
  signRequest,
  verifyRequest,
} from '../../lib/request-auth';
import { ReplayGuard } from '../../api/auth';

const requester = Wallet.createRandom();
const now = 1_800_000_000;
const body = JSON.stringify({ programId: 1 });
const scope = requestScope('http://127.0.0.1:8080/', 31337);

async function signed(overrides: Partial<Record<'address' | 'timestamp' | 'signature', string>> = {}) {
  const h = await signRequest(requester, 'POST', '/v1/jobs', body, now, scope);
  return {
    address: h[AUTH_HEADERS.address],
    timestamp: h[AUTH_HEADERS.timestamp],
    signature: h[AUTH_HEADERS.signature],
    ...overrides,
  };
}

/**
 * Every spelling ethers' own verifyMessage accepts for one signature: v as 0/1/27/28 (and as
 * EIP-155 style 35+), the 64-byte EIP-2098 compact form, upper- and mixed-case hex, no 0x.
 */
function byteVariants(signature: string): string[] {
  const sig = Signature.from(signature);
  const r = sig.r.slice(2);
  const s = sig.s.slice(2);
  const out = new Set<string>();
  const bit = sig.yParity;
  for (const v of [bit, bit + 27, bit + 35, bit + 37])
    out.add('0x' + r + s + v.toString(16).padStart(2, '0'));
  out.add(sig.compactSerialized);
  for (const v of [...out]) {
    out.add('0x' + v.slice(2).toUpperCase());
    out.add(v.slice(0, 10) + v.slice(10).toUpperCase());
    out.add(v.slice(2));
  }
  out.delete(signature);
  return [...out];
}

describe('signed gateway requests', () => {
  it('accept the signer over the same gateway, method, path, body and time', async () => {
    const r = verifyRequest(await signed(), 'POST', '/v1/jobs', body, now + 10, scope);
    expect(r).toMatchObject({ ok: true, address: requester.address });
    if (r.ok) expect(r.digest).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it.each([
    ['another body', 'POST', '/v1/jobs', '{"programId":2}', now, 'wrong-signer'],
    ['another path', 'POST', '/v1/jobs?x=1', body, now, 'wrong-signer'],
    ['another method', 'PUT', '/v1/jobs', body, now, 'wrong-signer'],
    ['after the window', 'POST', '/v1/jobs', body, now + REPLAY_WINDOW_SECONDS + 1, 'expired'],
  ])('refuse %s', async (_what, method, path, b, at, reason) => {
    const r = verifyRequest(await signed(), method, path, b, at, scope);
    expect(r).toMatchObject({ ok: false, reason });
  });

  it.each([
    ['another origin (port)', requestScope('http://127.0.0.1:8081', 31337)],
    ['another origin (scheme)', requestScope('https://127.0.0.1:8080', 31337)],
    ['another origin (host)', requestScope('http://gateway.example:8080', 31337)],
    ['another chain id', requestScope('http://127.0.0.1:8080', 1)],
  ])('refuse a request signed for %s', async (_what, otherScope) => {
    const r = verifyRequest(await signed(), 'POST', '/v1/jobs', body, now, otherScope);
    expect(r).toMatchObject({ ok: false, reason: 'wrong-signer' });
  });

  it('refuse a signature made by someone else for the claimed address', async () => {
    const other = await signRequest(Wallet.createRandom(), 'POST', '/v1/jobs', body, now, scope);
    const r = verifyRequest(
      await signed({ signature: other[AUTH_HEADERS.signature] }),
      'POST',
      '/v1/jobs',
      body,
      now,
      scope,
    );
    expect(r).toMatchObject({ ok: false, reason: 'wrong-signer' });
  });

  it('accept only the canonical spelling of a signature', async () => {
    const good = (await signed()).signature!;
    expect(canonicalSignature(good)).toBe(true);
    // The variants that really are the same signature: ethers recovers the signer from each.
    const message = requestMessage(scope, 'POST', '/v1/jobs', body, now);
    const variants = byteVariants(good).filter((v) => {
      try {
        return verifyMessage(message, v) === requester.address;
      } catch {
        return false;
      }
    });
    expect(variants.length).toBeGreaterThanOrEqual(10);
    for (const variant of variants) {
      const r = verifyRequest(await signed({ signature: variant }), 'POST', '/v1/jobs', body, now, scope);
      expect(r.ok).toBe(false);
    }
    // The high-s twin (s' = n - s, v flipped) recovers the same address; it is refused too.
    const sig = Signature.from(good);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS =
      '0x' +
      sig.r.slice(2) +
      (n - BigInt(sig.s)).toString(16).padStart(64, '0') +
      (sig.v === 27 ? '1c' : '1b');
    expect(
      verifyRequest(await signed({ signature: highS }), 'POST', '/v1/jobs', body, now, scope),
    ).toMatchObject({
      ok: false,
      reason: 'non-canonical-signature',
    });
  });

  it('a signer without a bound or given scope cannot sign', async () => {
    await expect(signRequest(Wallet.createRandom(), 'GET', '/v1/jobs')).rejects.toThrow(/RequestScope/);
  });

  it.each([
    [{ signature: undefined }, 'missing-headers'],
    [{ address: 'not-an-address' }, 'bad-address'],
    [{ timestamp: 'yesterday' }, 'bad-timestamp'],
    [{ signature: '0x1234' }, 'bad-signature'],
  ])('name the malformed part %#', async (override, reason) => {
    const r = verifyRequest(
      await signed(override as Record<string, string>),
      'POST',
      '/v1/jobs',
      body,
      now,
      scope,
    );
    expect(r).toMatchObject({ ok: false, reason });
    if (!r.ok) expect(r.message.length).toBeGreaterThan(10);
  });
});

describe('ReplayGuard', () => {
  it('keys on (address, digest): the same message is refused whatever the signature bytes', () => {
    const guard = new ReplayGuard();
    expect(guard.accept('0xAbC', '0x01', now, now)).toBe(true);
    expect(guard.accept('0xabc', '0x01', now, now)).toBe(false);
    expect(guard.accept('0xabc', '0x02', now, now)).toBe(true);
    expect(guard.accept('0xdef', '0x01', now, now)).toBe(true);
    // After the window the entry is dropped (the timestamp check refuses the request by then).
    expect(guard.accept('0xabc', '0x01', now, now + 2 * REPLAY_WINDOW_SECONDS + 1)).toBe(true);
  });
});
