import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client as PgClient } from 'pg';
import { freePort, isPortFree } from '../../cli/stack/ports';
import { resolveTemporalBin } from '../../cli/stack/temporal';
import { processesMentioning, runCli } from '../support/process';

/**
 * The embedded stack as a user runs it: `emeth demo --keep`, then Ctrl-C, then `emeth up` again on
 * the same state. Real Temporal, anvil, PGlite and L2 server processes.
 */
// The demo runs the whole inference Job (3 node processes, a verifier): minutes on a loaded 2-core box.
jest.setTimeout(420_000);

describe('emeth up / demo on the embedded stack', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-e2e-'));
  let env: NodeJS.ProcessEnv;
  let ports: Record<string, number>;

  beforeAll(async () => {
    ports = {
      EMETH_TEMPORAL_PORT: await freePort(),
      EMETH_TEMPORAL_UI_PORT: await freePort(),
      EMETH_ANVIL_PORT: await freePort(),
      EMETH_PGLITE_PORT: await freePort(),
      EMETH_GATEWAY_PORT: await freePort(),
      EMETH_EDGE_PORT: await freePort(),
    };
    env = { ...process.env, EMETH_HOME: home, EMETH_LOG_LEVEL: 'warn' };
    for (const v of [
      'DATABASE_URL',
      'EMETH_DATABASE_URL',
      'EMETH_TEMPORAL_ADDRESS',
      'EMETH_CHAIN_RPC',
      'EMETH_DEPLOYMENT_FILE',
    ])
      delete env[v];
    for (const [k, v] of Object.entries(ports)) env[k] = String(v);
  });
  // A test that timed out leaves its stack running; never let it take the next test's ports.
  afterEach(async () => {
    const leftovers = processesMentioning(home);
    for (const pid of leftovers) process.kill(pid, 'SIGKILL');
    if (leftovers.length) await new Promise((r) => setTimeout(r, 1000));
  });
  afterAll(() => {
    for (const pid of processesMentioning(home)) process.kill(pid, 'SIGKILL');
    fs.rmSync(home, { recursive: true, force: true });
  });

  const temporal = (...args: string[]) =>
    execFileSync(
      resolveTemporalBin(),
      [...args, '--address', `127.0.0.1:${ports.EMETH_TEMPORAL_PORT}`, '-o', 'json'],
      {
        encoding: 'utf8',
      },
    );

  async function stopWithSigint(run: ReturnType<typeof runCli>): Promise<void> {
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    await run.waitFor(/EMETH stopped\./, 1000);
    expect(processesMentioning(home)).toEqual([]);
    for (const [variable, port] of Object.entries(ports))
      expect([variable, await isPortFree(port)]).toEqual([variable, true]);
  }

  let workflowId: string;
  let deployment: { token: string; core: string };

  /** Runs `emeth <args>`, hands it to `body`, and always stops it with SIGINT afterwards. */
  async function withCli(
    args: string[],
    body: (run: ReturnType<typeof runCli>) => Promise<void>,
  ): Promise<void> {
    const run = runCli(args, env);
    try {
      await body(run);
    } finally {
      if (run.child.exitCode === null) {
        run.child.kill('SIGINT');
        await run.exited;
      }
    }
  }

  it('demo --keep runs the wiring workflow and stays up with every part healthy', () =>
    withCli(['demo', '--keep'], async (run) => {
      await run.waitFor(/--keep: the stack stays up/, 400_000);
      workflowId = run.output().match(/workflow\s+(wiring-\S+)/)![1]!;
      expect(run.output()).toContain(`Temporal UI: http://127.0.0.1:${ports.EMETH_TEMPORAL_UI_PORT}`);

      const health = await fetch(`http://127.0.0.1:${ports.EMETH_GATEWAY_PORT}/healthz`);
      const report = (await health.json()) as { status: string; parts: Record<string, { up: boolean }> };
      expect(health.status).toBe(200);
      expect(report.status).toBe('up');
      expect(Object.keys(report.parts).sort()).toEqual([
        'chain',
        'database',
        'gateway',
        'temporal',
        'worker',
      ]);
      for (const [name, part] of Object.entries(report.parts)) expect([name, part.up]).toEqual([name, true]);

      const ui = await fetch(`http://127.0.0.1:${ports.EMETH_TEMPORAL_UI_PORT}/`);
      expect(ui.status).toBe(200);

      // The acceptance check, verbatim: `temporal workflow list` finds it by its search attributes.
      const listed = JSON.parse(
        temporal('workflow', 'list', '--query', `EmethJobId='${workflowId}' AND EmethStatus='done'`),
      ) as {
        execution: { workflowId: string };
      }[];
      expect(listed.map((w) => w.execution.workflowId)).toEqual([workflowId]);

      // The demo's inference Job and its 6 SubJobs, found in Temporal by EmethJobId.
      expect(run.output()).toContain(
        "they pay exactly the Job's charge, and payments equal the deposit drawn, to the holon",
      );
      // Every blob the demo stored (datasets, models, shards, results, updates, checkpoints) is sealed.
      const storage = /EMETH Storage: (\d+) blobs .*, (\d+) of them AES-256-GCM envelopes\./.exec(
        run.output(),
      );
      expect(Number(storage?.[1])).toBeGreaterThan(20);
      expect(storage?.[2]).toBe(storage?.[1]);
      const jobId = run.output().match(/Job (0x[0-9a-f]{64})/)![1]!;
      const family = JSON.parse(temporal('workflow', 'list', '--query', `EmethJobId='${jobId}'`)) as {
        execution: { workflowId: string };
      }[];
      expect(family.map((w) => w.execution.workflowId).sort()).toEqual(
        [`job-${jobId}`, ...[0, 1, 2, 3, 4, 5].map((i) => `job-${jobId}/subjob-${i}`)].sort(),
      );

      deployment = JSON.parse(fs.readFileSync(path.join(home, 'deployment.json'), 'utf8'));
      await stopWithSigint(run);
    }));

  it('a second `emeth up` resumes the chain, the database and Temporal', () =>
    withCli(['up'], async (run) => {
      await run.waitFor(/EMETH is up \(state resumed/);
      expect(JSON.parse(fs.readFileSync(path.join(home, 'deployment.json'), 'utf8'))).toEqual(deployment);

      const pg = new PgClient({
        host: '127.0.0.1',
        port: ports.EMETH_PGLITE_PORT,
        user: 'postgres',
        password: 'postgres',
        database: 'postgres',
      });
      await pg.connect();
      const rows = await pg.query('SELECT "tokenAddress" FROM "WiringCheck" WHERE id = $1', [workflowId]);
      await pg.end();
      expect(rows.rows).toEqual([{ tokenAddress: deployment.token }]);

      const described = JSON.parse(temporal('workflow', 'describe', '--workflow-id', workflowId));
      expect(described.workflowExecutionInfo.status).toBe('WORKFLOW_EXECUTION_STATUS_COMPLETED');

      await stopWithSigint(run);
    }));

  it('a taken port stops `emeth up` with a message naming the port and its variable', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen(ports.EMETH_GATEWAY_PORT, '127.0.0.1', resolve);
    });
    try {
      const run = runCli(['up'], env);
      expect(await run.exited).toBe(1);
      expect(run.output()).toContain(
        `port ${ports.EMETH_GATEWAY_PORT} (REST gateway) is already in use; stop what holds it or set EMETH_GATEWAY_PORT to another port`,
      );
      expect(processesMentioning(home)).toEqual([]);
    } finally {
      blocker.close();
    }
  });
});
