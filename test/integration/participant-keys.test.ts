/**
 * Participants' keys stay off argv and out of reach of other users (issue 9, item 5): a running
 * node and verifier, started the way the suite starts them (node: a 0600 --key-file; verifier:
 * EMETH_KEY), show no private key in /proc/<pid>/cmdline (what `ps` prints), hold no deployment
 * codec key (EMETH_CODEC_KEYS) or L2 key in their environment, and no file under their home holds
 * the codec key. `--key` on argv and a key file others can read are refused before anything starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Wallet } from 'ethers';
import { DEV_ROLES, devKey } from '../../lib/dev-accounts';
import { TestPipeline } from '../support/pipeline';
import { ROOT } from '../support/process';

jest.setTimeout(240_000);

let p: TestPipeline;
beforeAll(async () => {
  p = await TestPipeline.start();
});
afterAll(() => p?.stop());

function procFile(pid: number, name: 'cmdline' | 'environ'): string[] {
  return fs.readFileSync(`/proc/${pid}/${name}`, 'utf8').split('\0').filter(Boolean);
}

/** Every spelling of a private key that would give it away: with and without 0x, any case. */
function leaks(text: string, key: string): boolean {
  return text.toLowerCase().includes(key.toLowerCase().replace(/^0x/, ''));
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

describe('a running participant', () => {
  it('a node: no key on argv, its key file 0600, no codec or L2 key in its environment or home', async () => {
    const node = await p.startNode();
    const pid = node.process.child.pid!;
    const argv = procFile(pid, 'cmdline');
    expect(argv.join(' ')).toContain('workers/node/main.ts');
    expect(argv).toContain('--key-file');
    expect(argv).not.toContain('--key');
    expect(leaks(argv.join(' '), node.wallet.privateKey)).toBe(false);
    const keyFile = argv[argv.indexOf('--key-file') + 1]!;
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);

    const env = procFile(pid, 'environ');
    const names = env.map((e) => e.slice(0, e.indexOf('=')));
    for (const secret of [
      'EMETH_CODEC_KEYS',
      'EMETH_L2_KEY',
      'EMETH_SIGNER_KEY',
      'EMETH_STORAGE_KEY',
      'EMETH_KEY',
    ])
      expect(names).not.toContain(secret);
    // The run's codec keys (the jest global setup's, in this process) appear nowhere the node can see.
    const codecKeys = process.env.EMETH_CODEC_KEYS!;
    expect(codecKeys).toBeTruthy();
    const keyValues = codecKeys.split(',').map((k) => k.slice(k.indexOf(':') + 1));
    for (const value of keyValues) {
      expect(env.join('\n')).not.toContain(value);
      expect(argv.join(' ')).not.toContain(value);
      for (const file of filesUnder(p.home)) expect(fs.readFileSync(file, 'latin1')).not.toContain(value);
    }
    for (const secret of [p.env.EMETH_L2_KEY!, p.env.EMETH_SIGNER_KEY!, p.env.EMETH_STORAGE_KEY!])
      expect(leaks(env.join('\n') + argv.join(' '), secret)).toBe(false);
  });

  it('a verifier: its key in its own environment only, never on argv', async () => {
    const verifier = await p.startVerifier();
    const pid = verifier.child.pid!;
    const key = devKey(DEV_ROLES.verifier);
    expect(leaks(procFile(pid, 'cmdline').join(' '), key)).toBe(false);
    const env = procFile(pid, 'environ');
    expect(env).toContain(`EMETH_KEY=${key}`);
    expect(env.some((e) => e.startsWith('EMETH_CODEC_KEYS='))).toBe(false);
  });
});

describe('refused before anything starts', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', 'node', 'main.ts'), ...args], {
      cwd: ROOT,
      env: { ...p.env, ...env, EMETH_KEY: env.EMETH_KEY ?? '' },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('--key on argv, naming the two ways instead', () => {
    const r = run(['--key', Wallet.createRandom().privateKey]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--key is no longer accepted/);
    expect(r.stderr).toMatch(/EMETH_KEY/);
    expect(r.stderr).toMatch(/--key-file/);
  });

  it('a key file readable by group or others', () => {
    const file = path.join(p.home, 'loose.key');
    fs.writeFileSync(file, Wallet.createRandom().privateKey, { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const r = run(['--key-file', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/readable by group or others.*chmod 600/);
  });
});
