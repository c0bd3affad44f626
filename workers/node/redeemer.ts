import { Contract, type Signer } from 'ethers';
import { loadArtifact } from '../../contracts/artifacts';
import type { Deployment } from '../../lib/types-chain';
import type { Logger } from '../../lib/logger';
import { signRequest, withNonce } from '../../lib/request-auth';

interface TicketView {
  ticket: { jobId: string; subJobId: string; node: string; requester: string; amount: string; verifier: string; verifierFee: string };
  batch: { batchId: string | number; root: string; total: string; signature: string } | null;
  leafIndex: number | null;
  proof: string[] | null;
  redeemedAt: string | null;
}

export interface RedeemerOptions {
  gatewayUrl: string;
  signer: Signer;
  deployment: Deployment;
  logger: Logger;
  intervalMs?: number;
  /** Redeem only once the signed, unredeemed tickets are worth at least this much (holon), so gas is not spent on dust. */
  minAmount?: bigint;
}

/** Fetches the node's signed tickets from the gateway and redeems them on EmethCore. */
export async function redeemOnce(opts: RedeemerOptions): Promise<{ redeemed: number; amount: bigint }> {
  const address = await opts.signer.getAddress();
  const path = withNonce(`/v1/nodes/${address.toLowerCase()}/tickets?redeemed=false`);
  const res = await fetch(opts.gatewayUrl + path, { headers: await signRequest(opts.signer, 'GET', path, '') });
  if (!res.ok) throw new Error(`could not fetch tickets (HTTP ${res.status}): ${await res.text()}`);
  const { tickets } = (await res.json()) as { tickets: TicketView[] };
  const core = new Contract(opts.deployment.core, loadArtifact('EmethCore').abi, opts.signer);
  const signed = [];
  for (const t of tickets) {
    if (!t.batch || t.leafIndex === null || !t.proof) continue;
    if ((await core.getFunction('isRedeemed')(t.batch.root, t.leafIndex)) as boolean) continue;
    signed.push(t);
  }
  const total = signed.reduce((a, t) => a + BigInt(t.ticket.amount), 0n);
  if (signed.length === 0 || total < (opts.minAmount ?? 0n)) return { redeemed: 0, amount: 0n };
  for (const t of signed) {
    const batch = { batchId: BigInt(t.batch!.batchId), root: t.batch!.root, total: BigInt(t.batch!.total) };
    const ticket = { ...t.ticket, amount: BigInt(t.ticket.amount), verifierFee: BigInt(t.ticket.verifierFee) };
    const tx = await core.getFunction('redeem')(batch, t.batch!.signature, ticket, t.leafIndex, t.proof);
    await tx.wait();
    opts.logger.info({ jobId: t.ticket.jobId, subJobId: t.ticket.subJobId, amount: t.ticket.amount, tx: tx.hash }, 'ticket redeemed');
  }
  return { redeemed: signed.length, amount: total };
}

export function startRedeemer(opts: RedeemerOptions): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => (stopped ? undefined : redeemOnce(opts).catch((err) => opts.logger.warn({ err: String(err) }, 'ticket redemption failed; will retry'))));
  }, opts.intervalMs ?? 5000);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
