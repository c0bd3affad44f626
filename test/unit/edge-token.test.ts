import { Wallet } from 'ethers';
import {
  edgeClaims,
  makeEdgeToken,
  MAX_EDGE_TOKEN_SECONDS,
  verifyEdgeToken,
  type EdgeTokenClaims,
} from '../../lib/edge-token';

const node = Wallet.createRandom();
const now = 1_800_000_000;
const chainId = 31337;
const endpoint = 'edge.example:7243';
const expected = { now, chainId, endpoint };

function claims(overrides: Partial<EdgeTokenClaims> = {}): EdgeTokenClaims {
  return { ...edgeClaims('node', node.address, chainId, endpoint, now - 10), ...overrides };
}

/** Re-encodes the claims part of a token, keeping its signature. */
function withClaims(token: string, edit: (c: Record<string, unknown>) => void): string {
  const [prefix, body, sig] = token.split('.');
  const c = JSON.parse(Buffer.from(body!, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(c);
  return [prefix, Buffer.from(JSON.stringify(c)).toString('base64url'), sig].join('.');
}

describe('node edge tokens', () => {
  it('verify to the signed claims, address lowercased', async () => {
    const token = await makeEdgeToken(node, claims());
    expect(verifyEdgeToken(token, expected)).toEqual({
      ok: true,
      claims: { ...claims(), address: node.address.toLowerCase() },
    });
  });

  it.each([
    ['expired', { expiresAt: now }, /expired/],
    ['issued in the future', { issuedAt: now + 120, expiresAt: now + 300 }, /future/],
    ['living too long', { issuedAt: now - 10, expiresAt: now - 10 + MAX_EDGE_TOKEN_SECONDS + 1 }, /longer/],
    ['for another chain', { chainId: 1 }, /chain 1/],
    ['for another edge', { endpoint: 'other.example:7243' }, /other\.example/],
  ])('refuse a token %s', async (_what, overrides, reason) => {
    const token = await makeEdgeToken(node, claims(overrides));
    const verdict = verifyEdgeToken(token, expected);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.reason).toMatch(reason);
  });

  it.each([
    ['another role', (c: Record<string, unknown>) => (c.role = 'verifier')],
    [
      'a later window',
      (c: Record<string, unknown>) => {
        c.issuedAt = (c.issuedAt as number) + 30;
        c.expiresAt = (c.expiresAt as number) + 30;
      },
    ],
    ['another address', (c: Record<string, unknown>) => (c.address = Wallet.createRandom().address)],
  ])('refuse claims tampered to %s', async (_what, edit) => {
    const token = withClaims(await makeEdgeToken(node, claims()), edit);
    const verdict = verifyEdgeToken(token, expected);
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringMatching(/not signed by/) });
  });

  it('refuse a tampered signature', async () => {
    const token = await makeEdgeToken(node, claims());
    const sig = Buffer.from(token.split('.')[2]!, 'base64url');
    sig.writeUInt8(sig.readUInt8(10) ^ 0xff, 10);
    const tampered = [...token.split('.').slice(0, 2), sig.toString('base64url')].join('.');
    expect(verifyEdgeToken(tampered, expected).ok).toBe(false);
  });

  it('refuse a token signed by someone else for the claimed address', async () => {
    const token = await makeEdgeToken(Wallet.createRandom(), claims());
    expect(verifyEdgeToken(token, expected)).toMatchObject({
      ok: false,
      reason: `the token was not signed by ${node.address.toLowerCase()} over these claims`,
    });
  });

  it.each(['', 'Bearer', 'emeth-edge-v1.e30.', 'emeth-edge-v2.a.b', 'emeth-edge-v1.bm90IGpzb24.AA'])(
    'refuse the malformed token %j',
    (token) => {
      expect(verifyEdgeToken(token, expected).ok).toBe(false);
    },
  );
});
