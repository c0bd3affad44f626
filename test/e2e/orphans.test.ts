import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isPortFree } from '../../cli/stack/ports';
import { pidFilePath, procStat, readPidFiles, type PidRecord } from '../../cli/stack/pid-files';
import { processesMentioning, runCli, type CliRun } from '../support/process';

/**
 * The stack never orphans its parts: `emeth up` as a real process with real Temporal, anvil and L2
 * server children (each in its own process group). A second Ctrl-C during the stop kills them all;
 * parts left behind by a supervisor that was SIGKILLed are ended by the next `emeth up`.
 */
jest.setTimeout(300_000);

const PARTS = ['anvil', 'emeth', 'l2', 'temporal'];

describe('emeth up leaves no part behind', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-orphans-'));
  let env: NodeJS.ProcessEnv;
  let ports: Record<string, number>;

  /**
   * A free port below the kernel's ephemeral range: this suite binds and frees its ports four times,
   * and in between any outgoing connection of a suite running alongside may be handed a port from
   * that range as its local port (a port freePort gave out: "already in use" on the next start).
   */
  async function portOutsideEphemeralRange(taken: Set<number>): Promise<number> {
    for (;;) {
      const port = 20_000 + Math.floor(Math.random() * 12_000);
      if (!taken.has(port) && (await isPortFree(port))) {
        taken.add(port);
        return port;
      }
    }
  }

  beforeAll(async () => {
    const taken = new Set<number>();
    const port = () => portOutsideEphemeralRange(taken);
    ports = {
      EMETH_TEMPORAL_PORT: await port(),
      EMETH_TEMPORAL_UI_PORT: await port(),
      EMETH_ANVIL_PORT: await port(),
      EMETH_PGLITE_PORT: await port(),
      EMETH_GATEWAY_PORT: await port(),
      EMETH_EDGE_PORT: await port(),
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
  // A failed test may leave a stack running; never let it take the next test's ports.
  afterEach(async () => {
    const leftovers = processesMentioning(home);
    for (const pid of leftovers) process.kill(pid, 'SIGKILL');
    if (leftovers.length) await new Promise((r) => setTimeout(r, 1000));
  });
  afterAll(() => {
    for (const pid of processesMentioning(home)) process.kill(pid, 'SIGKILL');
    fs.rmSync(home, { recursive: true, force: true });
  });

  const records = (): PidRecord[] =>
    readPidFiles(home)
      .map((f) => f.record!)
      .sort((a, b) => a.part.localeCompare(b.part));

  /** Waits (bounded) until none of `pids` is a live process; returns those still alive. */
  async function survivors(pids: number[], ms = 10_000): Promise<number[]> {
    const deadline = Date.now() + ms;
    let alive = pids.filter((p) => procStat(p));
    while (alive.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      alive = alive.filter((p) => procStat(p));
    }
    return alive;
  }

  async function expectNothingLeft(pids: number[]): Promise<void> {
    expect(await survivors(pids)).toEqual([]);
    expect(processesMentioning(home)).toEqual([]);
    for (const [variable, port] of Object.entries(ports))
      expect([variable, await isPortFree(port)]).toEqual([variable, true]);
  }

  async function upAndRunning(): Promise<CliRun> {
    const run = runCli(['up'], env);
    await run.waitFor(/Press Ctrl-C to stop\./);
    return run;
  }

  async function stopOnce(run: CliRun): Promise<void> {
    const pids = records().map((r) => r.pid);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('EMETH stopped.');
    expect(records()).toEqual([]); // a clean stop removes every pid file
    await expectNothingLeft(pids);
  }

  it('records every part with its pid and start time; a second SIGINT during the stop kills them all, exit 130', async () => {
    const run = await upAndRunning();
    const recorded = records();
    expect(recorded.map((r) => r.part)).toEqual(PARTS);
    for (const r of recorded) {
      expect([r.part, procStat(r.pid)?.startTime]).toEqual([r.part, r.startTime]);
      // Each part leads its own process group (the supervisor's Ctrl-C does not reach it).
      if (r.part !== 'emeth') expect([r.part, procStat(r.pid)?.pgid]).toEqual([r.part, r.pid]);
    }
    expect(recorded.find((r) => r.part === 'emeth')!.pid).toBe(run.child.pid);
    expect(recorded.find((r) => r.part === 'anvil')!.cmdline).toContain(`--port ${ports.EMETH_ANVIL_PORT}`);

    run.child.kill('SIGINT');
    // The L2 server stops first (it may take up to 20 s to drain): interrupt the stop right there.
    await run.waitFor(/stopping l2\.\.\./, 30_000);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.output()).toContain('SIGINT again: forcing exit');
    await expectNothingLeft(recorded.map((r) => r.pid));
  });

  it('the next `emeth up` starts on the same home and stops cleanly', async () => {
    const run = await upAndRunning();
    await stopOnce(run);
  });

  it('after the supervisor is SIGKILLed, the next `emeth up` ends the parts it left (naming each pid) and starts', async () => {
    const first = await upAndRunning();
    const left = records().filter((r) => r.part !== 'emeth');
    first.child.kill('SIGKILL');
    await first.exited;
    // The parts survive their supervisor: that is the leftover this run must clean up.
    for (const r of left) expect([r.part, procStat(r.pid) !== undefined]).toEqual([r.part, true]);
    expect(await isPortFree(ports.EMETH_TEMPORAL_PORT!)).toBe(false);

    const second = await upAndRunning();
    for (const r of left)
      expect(second.output()).toContain(
        `ending ${r.part} (pid ${r.pid}), left running by an earlier emeth run`,
      );
    expect(await survivors(left.map((r) => r.pid))).toEqual([]);
    const now = records();
    expect(now.map((r) => r.part)).toEqual(PARTS);
    for (const r of left) expect(now.find((n) => n.part === r.part)!.pid).not.toBe(r.pid);
    await stopOnce(second);
  });

  it('refuses to start while another `emeth up` runs on the same home, naming its pid', async () => {
    const first = await upAndRunning();
    try {
      const second = runCli(['up'], env);
      expect(await second.exited).toBe(1);
      expect(second.output()).toContain(`emeth: another emeth (pid ${first.child.pid}, started `);
      // The first stack is untouched.
      const health = await fetch(`http://127.0.0.1:${ports.EMETH_GATEWAY_PORT}/healthz`);
      expect(health.status).toBe(200);
      expect(fs.existsSync(pidFilePath(home, 'l2'))).toBe(true);
    } finally {
      await stopOnce(first);
    }
  });
});
