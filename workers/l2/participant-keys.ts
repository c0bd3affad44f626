import type { EdgeRole, EdgeTokenClaims } from '../../lib/edge-token';

/**
 * The X25519 keys participants vouch for with their wallets in every node-edge token: what the
 * L2 seals their Temporal payloads to. Learnt again from the next token after a restart.
 */
export class ParticipantKeys {
  private readonly keys = new Map<string, string>();

  learn(claims: EdgeTokenClaims): void {
    if (claims.x25519) this.keys.set(`${claims.role}:${claims.address.toLowerCase()}`, claims.x25519);
  }

  of(role: EdgeRole, address: string): string | undefined {
    return this.keys.get(`${role}:${address.toLowerCase()}`);
  }
}
