/**
 * P1: SubJobs per second through the whole pipeline (split → node → verifier → settle) against a
 * bare child workflow + empty activity on the same Temporal server, in the same run.
 * P5: submit → settled latency of a 3-SubJob Job, against 3 bare children under one parent.
 *
 *   npx tsx bench/p1-p5-pipeline.ts [--subjobs 24] [--rounds 3]
 *
 * Real processes throughout: Temporal dev server, anvil, PostgreSQL (or embedded PGlite), the L2
 * server, 3 nodes and a verifier. Prints a markdown table.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startTemporalDevServer } from '../cli/stack/temporal';
import { EMETH } from '../lib/fees';
import { TestPipeline } from '../test/support/pipeline';
import { bareFanOut, median } from './support';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      subjobs: { type: 'string', default: '24' },
      rounds: { type: 'string', default: '3' },
      // The dev server's transfer-queue poll rate (cli/stack/temporal.ts); its own default is 20.
      'transfer-rps': { type: 'string' },
    },
  });
  const n = Number(values.subjobs);
  const rounds = Number(values.rounds);
  // Every process of the run shares one payload key (as jest's global setup does for tests).
  process.env.EMETH_CODEC_KEYS ??= `k1:${randomBytes(32).toString('base64')}`;
  const temporal = await startTemporalDevServer({
    headless: true,
    ...(values['transfer-rps']
      ? { dynamicConfig: { 'history.transferProcessorMaxPollRPS': Number(values['transfer-rps']) } }
      : {}),
  });
  process.env.EMETH_TEST_TEMPORAL_ADDRESS = temporal.address;
  const p = await TestPipeline.start().catch(async (err) => {
    await temporal.stop();
    throw err;
  });
  try {
    await p.deposit(1_000n * EMETH);
    await p.startVerifier();
    for (let i = 0; i < 3; i++) await p.startNode();

    // Warm-up: sessions load, nodes earn the track record (3 verified SubJobs) that moves them to 10% spot checks.
    for (let i = 0; i < 4; i++) await p.waitForEnd((await p.submit({ rows: 150, numParallel: 3 })).job.id);
    await bareFanOut(temporal.address, 3, 3);

    const p1: number[] = [];
    const p1Bare: number[] = [];
    const p5: number[] = [];
    const p5Bare: number[] = [];
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      const big = await p.submit({ rows: n * 50, numParallel: n });
      const done = await p.workflowDone(big.job);
      if (done.status !== 'completed') throw new Error(`P1 Job ended ${done.status}`);
      p1.push(performance.now() - t0);
      p1Bare.push(await bareFanOut(temporal.address, n, 8));

      t0 = performance.now();
      const small = await p.submit({ rows: 300, numParallel: 3 });
      await p.workflowDone(small.job);
      p5.push(performance.now() - t0);
      p5Bare.push(await bareFanOut(temporal.address, 3, 3));
    }
    const rate = (ms: number) => (n / (ms / 1000)).toFixed(1);
    const m = { p1: median(p1), p1Bare: median(p1Bare), p5: median(p5), p5Bare: median(p5Bare) };
    console.log(`\n| benchmark | EMETH pipeline | bare Temporal (same server, same run) | ratio | goal |`);
    console.log(`|---|---:|---:|---:|---|`);
    console.log(
      `| P1: ${n} SubJobs of 50 rows, window 8, 3 nodes + verifier | ${rate(m.p1)} SubJobs/s (${(m.p1 / n).toFixed(0)} ms each) | ${rate(m.p1Bare)} children/s (${(m.p1Bare / n).toFixed(0)} ms each) | ${(m.p1 / m.p1Bare).toFixed(1)}× the bare cost | ≤ 1.3× |`,
    );
    console.log(
      `| P5: submit → settled, 3 SubJobs of 100 rows | ${(m.p5 / 1000).toFixed(2)} s (median of ${rounds}; min ${(Math.min(...p5) / 1000).toFixed(2)} s) | ${(m.p5Bare / 1000).toFixed(2)} s for parent + 3 children | ${(m.p5 / m.p5Bare).toFixed(1)}× | — |`,
    );
    console.log(
      `\nraw ms: P1 ${p1.map(Math.round).join(', ')}; bare ${p1Bare.map(Math.round).join(', ')}; P5 ${p5.map(Math.round).join(', ')}; bare ${p5Bare.map(Math.round).join(', ')}`,
    );
  } finally {
    await p.stop();
    await temporal.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
