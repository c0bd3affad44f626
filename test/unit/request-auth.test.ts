import { Wallet } from 'ethers';
import { AUTH_HEADERS, REPLAY_WINDOW_SECONDS, signRequest, verifyRequest } from '../../lib/request-auth';

const requester = Wallet.createRandom();
const now = 1_800_000_000;
const body = JSON.stringify({ programId: 1 });

async function signed(overrides: Partial<Record<'address' | 'timestamp' | 'signature', string>> = {}) {
  const h = await signRequest(requester, 'POST', '/v1/jobs', body, now);
  return {
    address: h[AUTH_HEADERS.address],
    timestamp: h[AUTH_HEADERS.timestamp],
    signature: h[AUTH_HEADERS.signature],
    ...overrides,
  };
}

describe('signed gateway requests', () => {
  it('accept the signer over the same method, path, body and time', async () => {
    expect(verifyRequest(await signed(), 'POST', '/v1/jobs', body, now + 10)).toEqual({
      ok: true,
      address: requester.address,
    });
  });

  it.each([
    ['another body', 'POST', '/v1/jobs', '{"programId":2}', now, 'wrong-signer'],
    ['another path', 'POST', '/v1/jobs?x=1', body, now, 'wrong-signer'],
    ['another method', 'PUT', '/v1/jobs', body, now, 'wrong-signer'],
    ['after the window', 'POST', '/v1/jobs', body, now + REPLAY_WINDOW_SECONDS + 1, 'expired'],
  ])('refuse %s', async (_what, method, path, b, at, reason) => {
    const r = verifyRequest(await signed(), method, path, b, at);
    expect(r).toMatchObject({ ok: false, reason });
  });

  it('refuse a signature made by someone else for the claimed address', async () => {
    const other = await signRequest(Wallet.createRandom(), 'POST', '/v1/jobs', body, now);
    const r = verifyRequest(
      await signed({ signature: other[AUTH_HEADERS.signature] }),
      'POST',
      '/v1/jobs',
      body,
      now,
    );
    expect(r).toMatchObject({ ok: false, reason: 'wrong-signer' });
  });

  it.each([
    [{ signature: undefined }, 'missing-headers'],
    [{ address: 'not-an-address' }, 'bad-address'],
    [{ timestamp: 'yesterday' }, 'bad-timestamp'],
    [{ signature: '0x1234' }, 'bad-signature'],
  ])('name the malformed part %#', async (override, reason) => {
    const r = verifyRequest(await signed(override as Record<string, string>), 'POST', '/v1/jobs', body, now);
    expect(r).toMatchObject({ ok: false, reason });
    if (!r.ok) expect(r.message.length).toBeGreaterThan(10);
  });
});
