/**
 * The redeemer every payee runs: a node for its fuel tickets, a verifier for its fee tickets. It
 * fetches the signed, unredeemed tickets that pay its own address from the gateway
 * (`GET /v1/nodes/:address/redemptions`, `:address` being the payee) and redeems them on EmethCore,
 * one `redeemMany` per batch. Each ticket pays one party, so neither waits for the other to redeem.
 */
import type { Signer } from 'ethers';
import { emethCore } from '../../contracts/typed';
import type { Deployment } from '../../lib/types-chain';
import type { Logger } from '../../lib/logger';
import { signRequest, withNonce } from '../../lib/request-auth';
import { deserializeTicket, paidTo, type SerializedTicket } from '../../lib/tickets';

interface Redemption {
  batch: { batchId: number; root: string; total: string; signature: string };
  tickets: SerializedTicket[];
  indices: number[];
  proof: string[];
  proofFlags: boolean[];
}

export interface RedeemerOptions {
  gatewayUrl: string;
  signer: Signer;
  deployment: Deployment;
  logger: Logger;
  intervalMs?: number;
  /**
   * The gas threshold: redeem a batch's tickets only when they pay at least this many holon per unit
   * of gas the redemption costs (0 = always), so a payee does not spend more on gas than it earns.
   */
  minHolonPerGas?: bigint;
  /** ... unless tickets have waited this long (ms): small earners get paid eventually. */
  maxWaitMs?: number;
}

/**
 * Fetches the signer's signed, unredeemed tickets as `redeemMany` arguments (one multiproof per
 * batch) and redeems each batch in one transaction when it clears the gas threshold.
 */
export function createRedeemer(opts: RedeemerOptions): {
  redeemOnce(): Promise<{ redeemed: number; amount: bigint }>;
} {
  const firstSeen = new Map<string, number>();
  const core = emethCore(opts.deployment.core, opts.signer);
  return {
    async redeemOnce() {
      const address = (await opts.signer.getAddress()).toLowerCase();
      const path = withNonce(`/v1/nodes/${address}/redemptions`);
      const res = await fetch(opts.gatewayUrl + path, {
        headers: await signRequest(opts.signer, 'GET', path, ''),
      });
      if (!res.ok) throw new Error(`could not fetch redemptions (HTTP ${res.status}): ${await res.text()}`);
      const { redemptions } = (await res.json()) as { redemptions: Redemption[] };
      let redeemed = 0;
      let amount = 0n;
      for (const r of redemptions) {
        // A ticket already redeemed (say, before a crash) would revert the whole call; the L2 notices
        // redemptions each Signer interval, and the next fetch leaves them out.
        const done = await Promise.all(r.indices.map((i) => core.isRedeemed(r.batch.root, i)));
        if (done.some(Boolean)) continue;
        const tickets = r.tickets.map(deserializeTicket);
        // What the tickets pay this signer (a node's tickets pay it `amount`, a verifier's `verifierFee`).
        const value = tickets.reduce((a, t) => a + paidTo(t, address), 0n);
        const batch = { batchId: BigInt(r.batch.batchId), root: r.batch.root, total: BigInt(r.batch.total) };
        const args = [batch, r.batch.signature, tickets, r.indices, r.proof, r.proofFlags] as const;
        const gas = await core.redeemMany.estimateGas(...args);
        const seen = firstSeen.get(r.batch.root) ?? Date.now();
        firstSeen.set(r.batch.root, seen);
        const waited = Date.now() - seen;
        if (value < gas * (opts.minHolonPerGas ?? 0n) && waited < (opts.maxWaitMs ?? 3_600_000)) {
          opts.logger.info(
            { batchId: r.batch.batchId, value: value.toString(), gas: gas.toString() },
            'tickets below the gas threshold; waiting',
          );
          continue;
        }
        const tx = await core.redeemMany(...args);
        const receipt = await tx.wait();
        firstSeen.delete(r.batch.root);
        redeemed += tickets.length;
        amount += value;
        opts.logger.info(
          {
            batchId: r.batch.batchId,
            tickets: tickets.length,
            amount: value.toString(),
            gasUsed: receipt?.gasUsed?.toString(),
            tx: tx.hash,
          },
          'tickets redeemed',
        );
      }
      return { redeemed, amount };
    },
  };
}

export function startRedeemer(opts: RedeemerOptions): { stop(): Promise<void> } {
  const redeemer = createRedeemer(opts);
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() =>
      stopped
        ? undefined
        : redeemer
            .redeemOnce()
            .catch((err) => opts.logger.warn({ err: String(err) }, 'ticket redemption failed; will retry')),
    );
  }, opts.intervalMs ?? 5000);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
