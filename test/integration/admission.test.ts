import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { EMETH, GHOLON } from '../../lib/fees';
import { TestPipeline } from '../support/pipeline';
import { ROOT } from '../support/process';
import { generateExamples } from '../../examples/generate';
import { Wallet, type Signer } from 'ethers';
import { signCommit } from '../../activities/chain/commitments';
import { datasetId32, signL1Request } from '../../activities/chain/l1-requests';
import { emethDomain } from '../../lib/tickets';

// Admission of Jobs at the gateway, as a requester meets it: a Job that cannot run is refused at
// submit naming the field, and no deposit is ever committed twice. Real L2 server (the programs
// inspect), database and chain.
jest.setTimeout(240_000);

let p: TestPipeline;
let model: string;
let dataset: string;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(50n * EMETH);
  const ex = await generateExamples(path.join(p.home, 'examples-admission'), { rows: 40 });
  model = (await p.gateway.putBlob(new Uint8Array(fs.readFileSync(ex.model.path)))).id;
  dataset = (await p.gateway.putBlob(new Uint8Array(fs.readFileSync(ex.rows.path)))).id;
});
afterAll(() => p?.stop());

const job = (over: Record<string, unknown>) => ({
  programId: 1,
  dataset,
  model,
  numParallel: 1,
  fuelLimit: '1000',
  fuelPrice: (120n * GHOLON).toString(),
  deadlineSeconds: 300,
  ...over,
});

/** The HTTP status and JSON body of a refused request (GatewayClient throws with the status in its message). */
async function refusal(body: unknown): Promise<{ status: number; message: string }> {
  try {
    await p.gateway.request('POST', '/v1/jobs', body);
  } catch (err) {
    const m = /HTTP (\d{3}): (.*)$/s.exec((err as Error).message);
    if (m) return { status: Number(m[1]), message: m[2]! };
    throw err;
  }
  throw new Error('the request was accepted');
}

describe('a Job that cannot run is refused at submit, naming the field and the reason', () => {
  it('random bytes as the dataset', async () => {
    const junk = (await p.gateway.putBlob(randomBytes(4096))).id;
    const r = await refusal(job({ dataset: junk }));
    expect(r.status).toBe(400);
    expect(r.message).toMatch(new RegExp(`dataset ${junk} is in no format EMETH reads`));
  });

  it('text as the model', async () => {
    const text = (await p.gateway.putBlob(new TextEncoder().encode('this is not an ONNX model\n'.repeat(20))))
      .id;
    const r = await refusal(job({ model: text }));
    expect(r.status).toBe(400);
    expect(r.message).toMatch(new RegExp(`model ${text}`));
  });

  it('a dataset whose rows do not fit the model', async () => {
    const ex = await generateExamples(path.join(p.home, 'examples-narrow'), { rows: 10, cols: 8 });
    const narrow = (await p.gateway.putBlob(new Uint8Array(fs.readFileSync(ex.rows.path)))).id;
    const r = await refusal(job({ dataset: narrow }));
    expect(r.status).toBe(400);
    expect(r.message).toMatch(/the model's input "rows" takes \[N, 32\]; array 'X' is \[10, 8\]/);
  });

  it('a model with an op of a custom domain (no cost model, unknown to onnxruntime)', async () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'examples', 'fixtures', 'models', 'onnx-custom-op.onnx'));
    const custom = (await p.gateway.putBlob(new Uint8Array(bytes))).id;
    const r = await refusal(job({ model: custom }));
    expect(r.status).toBe(400);
    expect(r.message).toMatch(/uses op com.example.custom:FancyScale, which has no fuel cost model/);
  });

  it('a Commit not signed by the requester over this Job', async () => {
    const other = Wallet.createRandom();
    const commit = {
      requester: (await p.requester.getAddress()).toLowerCase(),
      jobId: '0x' + randomBytes(32).toString('hex'),
      amount: 1n,
      deadline: BigInt(Math.floor(Date.now() / 1000) + 10 * 24 * 3600),
    };
    const signature = await signCommit(
      other,
      emethDomain(p.chain.deployment.chainId, p.chain.deployment.core),
      commit,
    );
    const r = await refusal(
      job({ commit: { jobId: commit.jobId, deadline: Number(commit.deadline), signature } }),
    );
    expect(r.status).toBe(400);
    expect(r.message).toMatch(/commit.signature is by 0x[0-9a-f]{40}, not by/);
  });

  it('leaves nothing behind: no Job row, no reservation', async () => {
    expect(await p.db.prisma.job.count()).toBe(0);
    expect(await p.db.prisma.ledgerEntry.count()).toBe(0);
  });
});

it('ten parallel submissions that each need the whole free deposit: exactly one accepted, nine 402', async () => {
  const requester = (await p.requester.getAddress()).toLowerCase();
  const free = await p.core().freeDeposit(requester);
  // needed = fuelLimit × fuelPrice × 1.05 (verifier fee): just under the whole free deposit.
  const fuelLimit = 1000n;
  const fuelPrice = (free * 20n) / (21n * fuelLimit);
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      // Each with its Commit, so the accepted Job reserves and keeps holding the deposit while the
      // others arrive (a Job without one fails at reservation and frees the deposit again, which
      // would rightly let a later submission in: submit-time inspection spreads the ten over time).
      p.gateway
        .submitJob(
          job({
            fuelLimit: fuelLimit.toString(),
            fuelPrice: fuelPrice.toString(),
            deadlineSeconds: 300 + i,
            capabilityClass: 'nobody',
          }),
          p.chain.deployment.core,
        )
        .then(() => 201)
        .catch((err: Error) => Number(/HTTP (\d{3})/.exec(err.message)?.[1] ?? 0)),
    ),
  );
  expect(outcomes.filter((s) => s === 201)).toHaveLength(1);
  expect(outcomes.filter((s) => s === 402)).toHaveLength(9);
  expect(await p.db.prisma.job.count({ where: { requester } })).toBe(1);
});

describe("layer 'l1': what the chain's one-round process cannot carry is refused at submit, naming the field", () => {
  const domain = () => emethDomain(p.chain.deployment.chainId, p.chain.deployment.core);
  // The race above left the deposit all but spent: these Jobs get a deposit of their own.
  beforeAll(() => p.deposit(10n * EMETH));
  let relayed: string;
  /** An L1 body with `signer`'s Request over exactly (or, with `signedOver`, not exactly) these terms. */
  async function l1Job(
    over: Record<string, unknown> = {},
    opts: { signer?: Signer; signedOver?: Partial<{ fuelLimit: bigint; jobId: string }> } = {},
  ) {
    const body = job({ layer: 'l1', capabilityClass: 'nobody', ...over });
    const deadline = Math.floor(Date.now() / 1000) + 300;
    const request = {
      requester: (await p.requester.getAddress()).toLowerCase(),
      jobId: opts.signedOver?.jobId ?? '0x' + randomBytes(32).toString('hex'),
      programId: 1,
      fuelLimit: opts.signedOver?.fuelLimit ?? BigInt(body.fuelLimit as string),
      fuelPrice: BigInt(body.fuelPrice as string),
      deadline: BigInt(deadline),
      dataset: datasetId32(body.dataset as string),
    };
    const signature = await signL1Request(opts.signer ?? p.requester, domain(), request);
    const { deadlineSeconds: _, ...rest } = body;
    void _;
    return {
      ...rest,
      deadline: new Date(deadline * 1000).toISOString(),
      l1Request: { jobId: request.jobId, signature },
    };
  }
  /** The refusal's status, error code, field and message, as the gateway's error shape has them. */
  async function refused(
    body: unknown,
  ): Promise<{ status: number; error: string; field?: string; message: string }> {
    const res = await p.gateway.send('POST', '/v1/jobs', body);
    expect(res.status).toBeGreaterThanOrEqual(400);
    return {
      status: res.status,
      ...((await res.json()) as { error: string; field?: string; message: string }),
    };
  }

  it('no Request signature', async () => {
    const r = await refused(job({ layer: 'l1' }));
    expect([r.status, r.field]).toEqual([400, 'l1Request']);
    expect(r.message).toMatch(/layer 'l1' needs l1Request/);
  });

  it('a Commit beside it, or replication', async () => {
    const commit = {
      jobId: '0x' + 'ab'.repeat(32),
      deadline: Math.floor(Date.now() / 1000) + 864000,
      signature: '0x' + '11'.repeat(65),
    };
    const withCommit = await refused(await l1Job({ commit }));
    expect([withCommit.status, withCommit.field]).toEqual([400, 'commit']);
    const replicated = await refused(await l1Job({ replicate: true }));
    expect([replicated.status, replicated.field]).toEqual([400, 'replicate']);
  });

  it("a Request signed by another key, or over other terms than the body's", async () => {
    const forged = await refused(await l1Job({}, { signer: Wallet.createRandom() }));
    expect([forged.status, forged.error, forged.field]).toEqual([400, 'invalid_l1_request', 'l1Request']);
    const altered = await refused(await l1Job({}, { signedOver: { fuelLimit: 1n } }));
    expect([altered.status, altered.error, altered.field]).toEqual([400, 'invalid_l1_request', 'l1Request']);
  });

  it('a Request replayed for a Job id already taken', async () => {
    const first = await l1Job();
    await p.gateway.request('POST', '/v1/jobs', first);
    relayed = first.l1Request.jobId;
    const again = await refused(first);
    expect([again.status, again.error]).toEqual([409, 'job_exists']);
  });

  it('two L1 Jobs racing for one deposit: exactly one accepted, the other 402', async () => {
    const requester = (await p.requester.getAddress()).toLowerCase();
    // The L1 Job accepted above holds its escrow on chain once the L2 relayed its Request.
    for (
      let i = 0;
      !(await p.db.prisma.ledgerEntry.findUnique({ where: { id: `${relayed}:l1-escrow` } }));
      i++
    ) {
      if (i > 100) throw new Error(`the L2 never relayed the Request of ${relayed}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const free = await p.core().freeDeposit(requester);
    const fuelLimit = 1000n;
    // Each needs just over half of what is free (and unreserved), so both cannot fit.
    const submittedBefore = await p.db.prisma.job.count({ where: { requester } });
    const fuelPrice = (free * 20n) / (21n * fuelLimit) / 2n + 1n;
    const bodies = await Promise.all(
      [0, 1].map(() => l1Job({ fuelLimit: fuelLimit.toString(), fuelPrice: fuelPrice.toString() })),
    );
    const outcomes = await Promise.all(
      bodies.map((b) =>
        p.gateway
          .request('POST', '/v1/jobs', b)
          .then(() => 201)
          .catch((err: Error) => Number(/HTTP (\d{3})/.exec(err.message)?.[1] ?? 0)),
      ),
    );
    expect(outcomes.sort()).toEqual([201, 402]);
    expect(await p.db.prisma.job.count({ where: { requester } })).toBe(submittedBefore + 1);
  });
});
