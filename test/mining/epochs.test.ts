/**
 * The GPU Mining Program end to end (paper §3-4): Jobs verified on three nodes → the L2's mining
 * Schedule posts each finished epoch's root on EmethMining → each node reads its proofs from
 * GET /v1/nodes/:address/rewards and claims, and receives exactly floor(pool × fuel / total) per
 * epoch; a second claim and a claim for another node are refused. Real Temporal, database, anvil;
 * the L2 server, nodes and verifier as real processes. Epochs are 10 s here (an hour in production):
 * the length is fixed when EmethMining is deployed, so the suite deploys its own.
 */
import { Interface, Wallet } from 'ethers';
import { EMETH } from '../../lib/fees';
import { loadConfig } from '../../lib/config';
import { revertData } from '../../contracts/errors';
import { EmethMining__factory, emethMining, type EmethMining } from '../../contracts/typed';
import { GatewayClient } from '../../cli/gateway-client';
import { claimRewards, fetchRewards, nodeRewards, type MiningRewardsView } from '../../cli/requester/node';
import { TestPipeline, type TestNode } from '../support/pipeline';
import { deployTestMining } from '../support/mining';

jest.setTimeout(300_000);

const EPOCH_SECONDS = 10;
const POOL = 12_000n * EMETH;
const CLASSES = ['mine-a', 'mine-b', 'mine-c'] as const;
const ROWS = [300, 600, 900] as const;

let p: TestPipeline;
let nodes: TestNode[];
let mining: EmethMining;
const errors = new Interface(EmethMining__factory.abi);

const walletOf = (n: TestNode) => new Wallet(n.wallet.privateKey, p.chain.provider);
const gatewayOf = (n: TestNode) =>
  new GatewayClient(p.config.gateway.url, walletOf(n), p.chain.deployment.chainId);
const asNode = (n: TestNode): EmethMining => emethMining(p.chain.deployment.mining!, walletOf(n));
const keyFileOf = (n: TestNode): string => n.logFile.replace(/\.log$/, '.key');

async function expectMiningRevert(tx: Promise<unknown>, name: string): Promise<void> {
  const err = await tx.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error(`expected ${name}, but the call succeeded`);
  const data = revertData(err);
  expect(data ? errors.parseError(data)?.name : (err as Error).message).toBe(name);
}

/** Σ fuel of the node's 'node' and 'replica' tickets: fuel × price is what each ticket pays. */
async function ticketedFuel(node: string, fuelPrice: bigint): Promise<bigint> {
  const tickets = await p.db.prisma.ticket.findMany({ where: { node, role: { in: ['node', 'replica'] } } });
  return tickets.reduce((s, t) => s + BigInt(t.amount.toFixed(0)) / fuelPrice, 0n);
}

beforeAll(async () => {
  p = await TestPipeline.start({
    prepareDeployment: async (chain, l2) => ({
      mining: await deployTestMining(chain, {
        epochSeconds: EPOCH_SECONDS,
        fund: 1_000_000n * EMETH,
        posters: [l2],
      }),
    }),
  });
  mining = emethMining(p.chain.deployment.mining!, p.chain.provider);
  await p.deposit(200n * EMETH);
  await p.startVerifier();
  nodes = await Promise.all(CLASSES.map((c) => p.startNode({ capabilityClass: c })));
});
afterAll(() => p?.stop());

describe('mining epochs', () => {
  let views: MiningRewardsView[];

  it('the Schedule posts every epoch with verified work; each node claims floor(pool × fuel / total) per epoch', async () => {
    // One Job per node (its own capability class), of different sizes: three different fuels.
    const jobs = await Promise.all(
      CLASSES.map((c, i) => p.submit({ capabilityClass: c, rows: ROWS[i], numParallel: 1 })),
    );
    for (const { job } of jobs) expect((await p.waitForEnd(job.id)).status).toBe('completed');
    const fuelPrice = jobs[0]!.fuelPrice;
    const want = await Promise.all(nodes.map((n) => ticketedFuel(n.address, fuelPrice)));
    expect(new Set(want).size).toBe(3);
    for (const f of want) expect(f).toBeGreaterThan(0n);
    // Ticket redemptions change the nodes' balances too: let them land before the claims.
    await Promise.all(jobs.map(({ job }) => p.waitForRedemptions(job.id)));

    // The epochs posted by the Schedule, once their work is over, add up to each node's verified fuel.
    const deadline = Date.now() + 90_000;
    for (;;) {
      views = await Promise.all(nodes.map((n) => fetchRewards(gatewayOf(n), n.address)));
      const got = views.map((v) => v.rewards.reduce((s, r) => s + BigInt(r.fuel), 0n));
      if (got.every((g, i) => g === want[i])) break;
      if (Date.now() > deadline)
        throw new Error(`posted fuel ${got.join(', ')} never reached the verified fuel ${want.join(', ')}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const schedule = await p.temporal.schedule
      .getHandle(`${p.config.temporal.taskQueuePrefix}-l2-mining`)
      .describe();
    expect(schedule.info.recentActions.length).toBeGreaterThan(0);

    // Every posted epoch is on chain as stored: its root, its total, a full 12,000 EMETH pool.
    const posted = await p.db.prisma.miningEpoch.findMany({ include: { shares: true } });
    expect(posted.length).toBeGreaterThan(0);
    for (const e of posted) {
      const chain = await mining.getEpoch(e.epoch);
      expect([chain.posted, chain.root, chain.totalFuel, chain.pool]).toEqual([
        true,
        e.root,
        BigInt(e.totalFuel.toFixed(0)),
        POOL,
      ]);
      expect(e.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(e.shares.reduce((s, x) => s + BigInt(x.fuel.toFixed(0)), 0n)).toBe(chain.totalFuel);
    }

    // The first two nodes claim with claimMany from the REST proofs; the third through the CLI.
    for (const [i, n] of nodes.entries()) {
      const view = views[i]!;
      const expected = view.rewards.reduce((s, r) => s + (POOL * BigInt(r.fuel)) / BigInt(r.totalFuel), 0n);
      for (const r of view.rewards) {
        expect(r.pool).toBe(POOL.toString());
        expect(BigInt(r.amount)).toBe((POOL * BigInt(r.fuel)) / BigInt(r.totalFuel));
        expect(r.claimed).toBe(false);
      }
      expect(BigInt(view.totals.claimable)).toBe(expected);
      let blockNumber: number;
      if (i < 2) {
        const tx = await asNode(n).claimMany(
          view.rewards.map((r) => r.epoch),
          view.rewards.map((r) => BigInt(r.fuel)),
          view.rewards.map((r) => r.proof),
        );
        blockNumber = (await tx.wait())!.blockNumber;
      } else {
        const out: string[] = [];
        const errs: string[] = [];
        const code = await nodeRewards(['--key-file', keyFileOf(n), '--claim'], loadConfig(p.env), {
          out: (l) => out.push(l),
          err: (l) => errs.push(l),
          env: p.env,
        });
        expect([code, errs]).toEqual([0, []]);
        expect(out.join('\n')).toMatch(/claimed \d+ epochs? .* tx (0x[0-9a-f]{64})/);
        const hash = /tx (0x[0-9a-f]{64})/.exec(out.join('\n'))![1]!;
        blockNumber = (await p.chain.provider.getTransactionReceipt(hash))!.blockNumber;
      }
      // anvil mines one transaction a block: the claim's block moves the balance by the claim alone.
      const token = p.token();
      const gained =
        (await token.balanceOf(n.address, { blockTag: blockNumber })) -
        (await token.balanceOf(n.address, { blockTag: blockNumber - 1 }));
      expect(gained).toBe(expected);
    }

    // The gateway now reads every share as claimed from the chain.
    const after = await Promise.all(nodes.map((n) => fetchRewards(gatewayOf(n), n.address)));
    for (const [i, v] of after.entries()) {
      expect(v.rewards.every((r) => r.claimed)).toBe(true);
      expect(v.totals.claimable).toBe('0');
      expect(v.totals.claimed).toBe(views[i]!.totals.claimable);
    }
  });

  it('a second claim, and a claim for another node with its valid proof, are refused', async () => {
    const [a, b] = nodes;
    const ra = views[0]!.rewards[0]!;
    await expectMiningRevert(
      asNode(a!).claim(ra.epoch, a!.address, BigInt(ra.fuel), ra.proof),
      'AlreadyClaimed',
    );
    const rb = views[1]!.rewards[0]!;
    await expectMiningRevert(asNode(a!).claim(rb.epoch, b!.address, BigInt(rb.fuel), rb.proof), 'NotNode');
    // What the CLI prints for a refusal: the rule, in one sentence.
    await expect(claimRewards(asNode(a!), [ra])).rejects.toThrow(
      new RegExp(`^EmethMining refused the claim with AlreadyClaimed: epoch ${ra.epoch} was claimed already`),
    );
    // Nothing is left to claim: the CLI says so and exits 0.
    const errs: string[] = [];
    const out: string[] = [];
    expect(
      await nodeRewards(['--key-file', keyFileOf(a!), '--claim'], loadConfig(p.env), {
        out: (l) => out.push(l),
        err: (l) => errs.push(l),
        env: p.env,
      }),
    ).toBe(0);
    expect(out.at(-1)).toMatch(/^nothing to claim/);
  });

  it('the rewards route: only the node itself, and a bad address named as the field', async () => {
    const [a, b] = nodes;
    const other = await gatewayOf(a!).send('GET', `/v1/nodes/${b!.address}/rewards`);
    expect(other.status).toBe(403);
    const bad = await gatewayOf(a!).send('GET', '/v1/nodes/0x1234/rewards');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { field?: string }).field).toBe('address');
  });
});
