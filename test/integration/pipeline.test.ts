import { fineOf } from '../../lib/verification-policy';
import { ONNX_INFERENCE_SPEC } from '../../lib/programs';
import fs from 'node:fs';
import { decodeMatrix, encodeMatrix, maxAbsDiff } from '../../lib/matrix';
import { markersIn, rawHistoriesOfJob, storageFilesContaining } from '../support/confidentiality';
import { EMETH } from '../../lib/fees';
import { localRun } from '../support/local-run';
import path from 'node:path';
import { DEV_ROLES, devKey } from '../../lib/dev-accounts';
import { runCli } from '../support/process';
import { NODE_FUNDING, TestPipeline } from '../support/pipeline';

// Real Temporal, PostgreSQL, anvil; the L2 server, nodes and verifier as real processes.
jest.setTimeout(240_000);

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
  await p.deposit(100n * EMETH);
  await p.startVerifier();
});
afterAll(() => p?.stop());

describe('an inference Job through the gateway', () => {
  it('settles to the holon: nodes paid their fuel, the verifier its fee, the rest refunded', async () => {
    const nodes = [await p.startNode(), await p.startNode()];
    const requester = await p.requester.getAddress();
    const verifier = p.config.l2.verifiers[0]!;
    const before = {
      nodes: await Promise.all(nodes.map((n) => p.balanceOf(n.address))),
      verifier: await p.balanceOf(verifier),
      deposit: await p.depositOf(requester),
      supply: await p.totalSupply(),
    };

    const { job, modelBytes, datasetBytes, fuelPrice } = await p.submit({ rows: 900, numParallel: 3 });
    const done = await p.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    expect(done.subJobs.map((s) => s.status)).toEqual(['verified', 'verified', 'verified']);

    const result = decodeMatrix(await p.gateway.getBlob(done.result!));
    expect(result.rows).toBe(900);
    expect(maxAbsDiff(result, await localRun(modelBytes, datasetBytes))).toBeLessThanOrEqual(1e-5);

    // Tickets: two per SubJob, each paying one party: its node fuel the verifier derived × price,
    // its verifier the SubJob's verifier-fee share.
    const subs = await p.db.prisma.subJob.findMany({ where: { jobId: job.id }, orderBy: { index: 'asc' } });
    const tickets = await p.db.prisma.ticket.findMany({ where: { jobId: job.id } });
    expect(tickets).toHaveLength(6);
    for (const s of subs) {
      const mine = tickets.filter((x) => x.subJobId === s.id);
      const n = mine.find((x) => x.role === 'node')!;
      const v = mine.find((x) => x.role === 'verifier')!;
      expect(mine).toHaveLength(2);
      expect([BigInt(n.amount.toFixed(0)), n.verifierFee.toFixed(0)]).toEqual([
        BigInt(s.fuelUsed!.toFixed(0)) * fuelPrice,
        '0',
      ]);
      expect([v.amount.toFixed(0), v.verifierFee.toFixed(0)]).toEqual(['0', s.verifierFee.toFixed(0)]);
      expect([n.node, v.node, n.verifier, v.verifier]).toEqual([s.nodeId, s.nodeId, verifier, verifier]);
    }
    const charged = tickets.reduce(
      (a, t) => a + BigInt(t.amount.toFixed(0)) + BigInt(t.verifierFee.toFixed(0)),
      0n,
    );
    const reserved = BigInt(done.fees.reserved);
    expect(reserved).toBe(BigInt(done.fees.feeLimit) + BigInt(done.fees.verifierFee));
    expect(BigInt(done.fees.charged)).toBe(charged);
    expect(BigInt(done.fees.refunded)).toBe(reserved - charged);

    await p.waitForRedemptions(job.id);
    // The L2 learns of them from the EMETH Cache's mirror of TicketRedeemed events at a later Signer
    // interval, and they stop counting against the requester's deposit.
    for (
      let i = 0;
      i < 60 && (await p.db.prisma.ticket.count({ where: { jobId: job.id, redeemedAt: null } })) > 0;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await p.db.prisma.ticket.count({ where: { jobId: job.id, redeemedAt: null } })).toBe(0);
    expect(await p.db.prisma.chainTicketRedemption.count({ where: { jobId: job.id } })).toBe(6);
    const paidTo = (addr: string) =>
      tickets.filter((t) => t.node === addr).reduce((a, t) => a + BigInt(t.amount.toFixed(0)), 0n);
    for (const [i, n] of nodes.entries())
      expect((await p.balanceOf(n.address)) - before.nodes[i]!).toBe(paidTo(n.address));
    const fees = tickets.reduce((a, t) => a + BigInt(t.verifierFee.toFixed(0)), 0n);
    expect((await p.balanceOf(verifier)) - before.verifier).toBe(fees);
    expect(before.deposit - (await p.depositOf(requester))).toBe(charged);
    expect(await p.totalSupply()).toBe(before.supply); // nothing burned on the happy path
  });

  it('catches a lying node: rejected, penalised once per attempt, the result still correct', async () => {
    // The liar is the only node of its class, so the first offer goes to it.
    const liar = await p.startNode({ behaviour: 'lie', capabilityClass: 'lie-drill' });
    const stake = await p.stakeOf(liar.address);
    const supply = await p.totalSupply();
    const burned = await p.totalBurned();
    const { job, modelBytes, datasetBytes } = await p.submit({
      rows: 300,
      numParallel: 1,
      capabilityClass: 'lie-drill',
    });
    await p.waitForAttempt(job.id, 'rejected');
    await p.startNode({ capabilityClass: 'lie-drill' });
    const done = await p.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    const result = decodeMatrix(await p.gateway.getBlob(done.result!));
    expect(maxAbsDiff(result, await localRun(modelBytes, datasetBytes))).toBeLessThanOrEqual(1e-5);

    const attempts = await p.db.prisma.attempt.findMany({ where: { nodeId: liar.address } });
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.outcome).toBe('rejected');
    const penalty = BigInt(attempts[0]!.penalty!.toFixed(0));
    const sub = await p.db.prisma.subJob.findFirstOrThrow({
      where: { jobId: job.id },
      include: { job: true },
    });
    // A proven mismatch costs the program's fine (lib/verification-policy.ts: 13.5 × the SubJob's
    // fee limit at a 10% audit rate), burned: more than any cheat could save at that check rate.
    expect(penalty).toBe(
      fineOf(
        ONNX_INFERENCE_SPEC.verification,
        BigInt(sub.fuelLimit.toFixed(0)) * BigInt(sub.job.fuelPrice.toFixed(0)),
      ),
    );
    expect(await p.stakeOf(liar.address)).toBe(stake - penalty);
    expect(await p.totalBurned()).toBe(burned + penalty);
    expect(await p.totalSupply()).toBe(supply - penalty + NODE_FUNDING); // the rescuer's funding was minted meanwhile
    expect(await p.db.prisma.ticket.count({ where: { node: liar.address } })).toBe(0);
  });

  it('a declining node pays the decline penalty and the SubJob goes to another node', async () => {
    const decliner = await p.startNode({ behaviour: 'decline', capabilityClass: 'decline-drill' });
    const stake = await p.stakeOf(decliner.address);
    const { job } = await p.submit({ rows: 300, numParallel: 1, capabilityClass: 'decline-drill' });
    await p.waitForAttempt(job.id, 'declined');
    const helper = await p.startNode({ capabilityClass: 'decline-drill' });
    const done = await p.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    expect(done.subJobs[0]!.nodeId).toBe(helper.address);
    const attempts = await p.attemptsOf(job.id);
    expect(attempts.map((a) => [a.nodeId, a.outcome])).toEqual([
      [decliner.address, 'declined'],
      [helper.address, 'verified'],
    ]);
    expect(await p.stakeOf(decliner.address)).toBe(stake - BigInt(attempts[0]!.penalty!.toFixed(0)));
  });

  it('a node holds its tickets back while they pay less than its gas threshold', async () => {
    // 10^30 holon per unit of gas: no ticket of this Job can clear it, and the max wait is an hour.
    const frugal = await p.startNode({ capabilityClass: 'frugal', minHolonPerGas: 10n ** 30n });
    const { job } = await p.submit({ rows: 300, numParallel: 1, capabilityClass: 'frugal' });
    expect((await p.waitForEnd(job.id)).status).toBe('completed');
    // Wait until the Signer batched the ticket and the node's redeemer has looked at it twice.
    const deadline = Date.now() + 30_000;
    // Its own ticket (the verifier redeems the fee ticket of the same SubJob by itself).
    const mine = { jobId: job.id, role: 'node' };
    let ticket = await p.db.prisma.ticket.findFirstOrThrow({ where: mine });
    while (ticket.batchId === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      ticket = await p.db.prisma.ticket.findFirstOrThrow({ where: mine });
    }
    expect(ticket.node).toBe(frugal.address);
    expect(ticket.batchId).not.toBeNull();
    await new Promise((r) => setTimeout(r, 12_000));
    const batch = await p.db.prisma.batch.findUniqueOrThrow({ where: { id: ticket.batchId! } });
    expect(await p.core().isRedeemed(batch.root, ticket.leafIndex!)).toBe(false);
    const log = fs.readFileSync(frugal.logFile, 'utf8');
    expect(log).toContain('"msg":"tickets below the gas threshold; waiting"'); // it looked, and held back
    expect(log).not.toContain('"msg":"tickets redeemed"');
  });

  it('`emeth submit` uploads, submits and follows a Job to completion; `emeth status` reports it', async () => {
    const { generateExamples } = await import('../../examples/generate');
    const ex = await generateExamples(path.join(p.home, 'cli-examples'), { rows: 200 });
    // The requester's key in the environment, never on argv (ps shows argv).
    const env = { ...p.env, EMETH_KEY: devKey(DEV_ROLES.requester) };
    const submit = runCli(
      [
        'submit',
        '--dataset',
        ex.rows.path,
        '--model',
        ex.model.path,
        '--parallel',
        '2',
        '--fuel-limit',
        '100000',
      ],
      env,
    );
    const submitted = await submit.exited;
    if (submitted !== 0) process.stderr.write(`emeth submit failed: ${submit.output()}\n`);
    expect(submitted).toBe(0);
    const jobId = submit.output().match(/Job (0x[0-9a-f]{64}) submitted/)![1]!;
    expect(submit.output()).toMatch(/completed .*verified/);
    expect(submit.output()).toContain('Job completed; result ');
    const status = runCli(['status', jobId], env);
    expect(await status.exited).toBe(0);
    expect(status.output()).toContain('Job completed; Temporal UI: ');
    const bad = runCli(['submit', '--dataset', '/nonexistent', '--model', ex.model.path], env);
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toContain('--dataset must name an existing file');
  });
});

describe('confidentiality', () => {
  it('keeps plaintext off storage and the Temporal server: markers in the dataset and the model appear in neither', async () => {
    await p.startNode({ capabilityClass: 'markers' });
    // A dataset row of values no generator makes, and a stretch of the model's weights.
    const markerRow = Float32Array.from({ length: 64 }, (_, i) => 7777.5 + i * 0.015625);
    let datasetMarker = Buffer.alloc(0);
    const { job, modelBytes } = await p.submit({
      rows: 240,
      numParallel: 2,
      capabilityClass: 'markers',
      dataset: (bytes) => {
        const m = decodeMatrix(bytes);
        const data = Float32Array.from(m.data);
        data.set(markerRow.subarray(0, m.cols), 200 * m.cols); // row 200: in the second shard
        datasetMarker = Buffer.from(data.buffer, 200 * m.cols * 4, m.cols * 4);
        return encodeMatrix({ ...m, data });
      },
    });
    const done = await p.waitForEnd(job.id);
    expect(done.status).toBe('completed');
    const model = Buffer.from(modelBytes);
    const modelMarker = model.subarray(model.length - 256, model.length - 192);
    const markers = [datasetMarker, modelMarker];

    // The markers are really in the data the requester reads back (the checks below can fail).
    const blobs = await p.gateway.request<{ dataset: string; model: string }>('GET', `/v1/jobs/${job.id}`);
    expect(markersIn(Buffer.from(await p.gateway.getBlob(blobs.dataset)), markers)).toEqual([0]);
    expect(markersIn(Buffer.from(await p.gateway.getBlob(blobs.model)), markers)).toEqual([1]);

    // EMETH Storage: the dataset, model, shards and results are all there, as ciphertext.
    const stored = storageFilesContaining(p.config.l2.storageDir, markers);
    expect(stored.files).toBeGreaterThanOrEqual(6);
    expect(stored.hits).toEqual([]);

    // Temporal: every payload of the Job's workflows is encrypted, and no marker is in the raw history.
    const raw = await rawHistoriesOfJob(p.temporal, p.config.temporal.namespace, job.id);
    expect(raw.workflows).toBe(3); // the Job and its two SubJobs
    // Operator-side payloads under the keyring; what crosses to a participant sealed to its key.
    expect([...raw.encodings].sort()).toEqual(['binary/encrypted', 'binary/sealed']);
    expect(markersIn(raw.bytes, markers)).toEqual([]);
  });
});
