import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnManaged } from '../../cli/stack/child';
import { StartupError } from '../../lib/errors';

describe('spawnManaged', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-child-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('names the cause of an early exit from this start only, not from an earlier run in the same log', async () => {
    const logFile = path.join(dir, 'server.log');
    fs.writeFileSync(logFile, 'panic: an old failure from yesterday\n');
    // A Go-style panic: the cause first, then more stack lines than the tail shows.
    const script = `console.error('panic: failed assigning ephemeral port: bind');
      for (let i = 0; i < 20; i++) console.error('\\tframe ' + i);
      process.exit(2);`;
    const err = await spawnManaged({
      name: 'server',
      command: process.execPath,
      args: ['-e', script],
      logFile,
      ready: async () => false,
      readyTimeoutMs: 10_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).reason).toBe('exited');
    const message = (err as Error).message;
    expect(message).toContain('exited with 2 before it was ready');
    expect(message).toContain('cause: panic: failed assigning ephemeral port: bind');
    expect(message).not.toContain('yesterday');
    expect(message).toContain('frame 19');
    expect(message).not.toContain('frame 5\n');
  });

  it('reports a process that never becomes ready as a timeout and leaves nothing running', async () => {
    const pidFile = path.join(dir, 'sleeper.pid');
    const err = await spawnManaged({
      name: 'sleeper',
      command: process.execPath,
      args: [
        '-e',
        `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`,
      ],
      logFile: path.join(dir, 'sleeper.log'),
      ready: async () => false,
      readyTimeoutMs: 300,
    }).catch((e: unknown) => e);
    expect((err as StartupError).reason).toBe('timeout');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('readiness read from the log', () => {
  it('finds a line written after this start even when earlier runs logged multi-byte characters', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-log-'));
    const log = path.join(dir, 'verifier.log');
    fs.writeFileSync(log, 'EMETH-READY verifier (an old run) — done → stopped\n'.repeat(5));
    const readyOnce = (script: string, readyTimeoutMs: number) =>
      spawnManaged({
        name: 'verifier',
        command: process.execPath,
        args: ['-e', script],
        logFile: log,
        ready: async (logSinceStart) => logSinceStart().includes('EMETH-READY verifier'),
        readyTimeoutMs,
      });
    // The old run's ready lines do not count for a start that never says it is ready.
    const silent = await readyOnce('setInterval(() => {}, 1000)', 500).catch((e: unknown) => e);
    expect((silent as StartupError).reason).toBe('timeout');
    // What this start writes after multi-byte history is found.
    const ready = await readyOnce(
      "console.log('starting…'); setTimeout(() => console.log('EMETH-READY verifier 0xabc'), 200); setInterval(() => {}, 1000)",
      10_000,
    );
    await ready.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
