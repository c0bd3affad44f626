import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Wallet } from 'ethers';
import { EMETH } from '../../lib/fees';
import { readNpy, readDataset } from '../../lib/tensors';
import { generateExamples } from '../../examples/generate';
import { ROOT } from '../support/process';
import { localRun } from '../support/local-run';
import { TestPipeline, type TestNode } from '../support/pipeline';
import { formatAmount } from '../../cli/requester/args';

/**
 * The requester's and node's CLI as a person runs it, each command its own process, against a
 * real stack: Temporal, anvil with the contracts, the database, the L2 server and gateway, two
 * nodes and a verifier. Every step checks what the command did on chain or on disk.
 */
jest.setTimeout(420_000);

const ROWS = 300;
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const PASSWORD = 'a long keystore passphrase';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

let p: TestPipeline;
let dir: string;
let nodes: TestNode[];

/** `emeth <args>` in its own process with the suite's configuration (no EMETH_KEY unless given). */
function emeth(args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  const childEnv: NodeJS.ProcessEnv = {
    ...p.env,
    EMETH_KEY: undefined,
    EMETH_KEYSTORE_PASSWORD: PASSWORD,
    EMETH_LOG_LEVEL: 'warn',
    ...env,
  };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  return new Promise((resolve, reject) => {
    // Run from the requester's own directory (relative -o paths land there), so tsx by its path.
    const child = spawn(process.execPath, ['--import', TSX, path.join(ROOT, 'cli', 'main.ts'), ...args], {
      cwd: dir,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed; its stdout. */
async function ok(args: string[], env?: Record<string, string | undefined>): Promise<string> {
  const r = await emeth(args, env);
  if (r.code !== 0)
    throw new Error(`emeth ${args.join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

/** The `balance`/`node status` table as a map: "wallet" → "29.5 EMETH". */
function table(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => /^(\S+)\s+(.*)$/.exec(l)!)
      .map((m) => [m[1]!, m[2]!]),
  );
}

/** "12.5 EMETH…" → holon. */
function holonOf(text: string): bigint {
  const m = /^(\d+)(?:\.(\d+))? EMETH/.exec(text);
  if (!m) throw new Error(`not an EMETH amount: ${text}`);
  return BigInt(m[1]!) * EMETH + BigInt((m[2] ?? '').padEnd(18, '0'));
}

async function advanceChain(seconds: bigint): Promise<void> {
  await p.chain.provider.send('evm_increaseTime', [Number(seconds)]);
  await p.chain.provider.send('evm_mine', []);
}

beforeAll(async () => {
  p = await TestPipeline.start();
  dir = fs.mkdtempSync(path.join(p.home, 'requester-'));
  await p.startVerifier();
  nodes = [await p.startNode(), await p.startNode()];
}, 300_000);
afterAll(() => p?.stop());

describe('the requester and node CLI', () => {
  let address: string;
  let jobId: string;
  let charged: bigint;
  let model: Uint8Array;
  let dataset: Uint8Array;
  const keystore = () => path.join(dir, 'me.keystore.json');

  it('keys new writes a 0600 keystore and prints its address; keys address reads it back', async () => {
    const out = await ok(['keys', 'new', '--keystore', keystore()]);
    address = /address (0x[0-9a-fA-F]{40})/.exec(out)![1]!;
    expect(fs.statSync(keystore()).mode & 0o777).toBe(0o600);
    expect((await Wallet.fromEncryptedJson(fs.readFileSync(keystore(), 'utf8'), PASSWORD)).address).toBe(
      address,
    );
    expect((await ok(['keys', 'address', '--keystore', keystore()])).trim()).toBe(address);
    // Never over an existing keystore.
    const again = await emeth(['keys', 'new', '--keystore', keystore()]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toMatch(/^emeth keys new: .* exists already; choose another file/);
  });

  it('refuses a key or a password on argv with exit 2 and one sentence, and a wrong password with exit 1', async () => {
    const secret = Wallet.createRandom().privateKey;
    const r = await emeth(['balance', '--key', secret]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--key is refused: .*visible to every user .* in ps/);
    expect(r.stderr + r.stdout).not.toContain(secret.slice(2));
    const pw = await emeth(['deposit', '--keystore', keystore(), '--password', 'x', '1']);
    expect(pw.code).toBe(2);
    const wrong = await emeth(['balance', '--keystore', keystore()], { EMETH_KEYSTORE_PASSWORD: 'not it' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toMatch(
      /^emeth balance: the password does not open .*; check EMETH_KEYSTORE_PASSWORD/,
    );
    const none = await emeth(['balance', '--keystore', keystore()], { EMETH_KEYSTORE_PASSWORD: undefined });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/set EMETH_KEYSTORE_PASSWORD, or run the command on a terminal/);
    const usage = await emeth(['deposit', '--keystore', keystore(), '12,5']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim()).toBe(
      'emeth deposit: the amount "12,5" is not an amount of EMETH; write it in decimal, like 12.5 or 100',
    );
    const help = await emeth(['withdraw', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: emeth withdraw \[options\] \[<EMETH>\]/);
  });

  it('deposit approves and deposits; balance shows wallet, deposit, committed, pending and free', async () => {
    // Gas from anvil, EMETH from the owner (the deployer, anvil's first dev account).
    await p.chain.provider.send('anvil_setBalance', [address, '0x56BC75E2D63100000']);
    await p.mint(address, 50n * EMETH);
    const out = await ok(['deposit', '--keystore', keystore(), '20.5']);
    expect(out).toMatch(
      /^deposited 20\.5 EMETH on EmethCore \(tx 0x[0-9a-f]{64}\)\ndeposit 20\.5 EMETH, free 20\.5 EMETH\n$/,
    );
    expect(await p.depositOf(address)).toBe(205n * 10n ** 17n);
    expect(await p.balanceOf(address)).toBe(295n * 10n ** 17n);

    const b = table(await ok(['balance', '--keystore', keystore()]));
    expect(b).toEqual({
      address,
      wallet: '29.5 EMETH',
      deposit: '20.5 EMETH',
      committed: '0 EMETH',
      pending: '0 EMETH',
      free: '20.5 EMETH',
    });
    // More than the wallet holds: refused before anything is sent.
    const tooMuch = await emeth(['deposit', '--keystore', keystore(), '1000']);
    expect(tooMuch.code).toBe(1);
    expect(tooMuch.stderr).toMatch(/holds 29\.5 EMETH, less than the 1000 EMETH to deposit/);
    expect(await p.depositOf(address)).toBe(205n * 10n ** 17n);
  });

  it('submit (with the keystore) runs a Job; jobs lists it; status follows it to completed', async () => {
    const ex = await generateExamples(path.join(dir, 'examples'), { rows: ROWS });
    model = new Uint8Array(fs.readFileSync(ex.model.path));
    dataset = new Uint8Array(fs.readFileSync(ex.rows.path));
    const out = await ok([
      'submit',
      '--keystore',
      keystore(),
      '--dataset',
      ex.rows.path,
      '--model',
      ex.model.path,
      '--parallel',
      '2',
      '--fuel-limit',
      '10000000',
      '--detach',
    ]);
    jobId = /Job (0x[0-9a-f]{64}) submitted/.exec(out)![1]!;
    const followed = await ok(['status', '--keystore', keystore(), jobId]);
    expect(followed).toMatch(/Job completed/);

    const listed = (await ok(['jobs', '--keystore', keystore()])).trim().split('\n');
    expect(listed).toHaveLength(1);
    const fields = listed[0]!.split(/\s{2,}/);
    expect(fields.slice(0, 3)).toEqual([jobId, 'onnx-inference', 'completed']);
    expect(Date.parse(fields[3]!)).toBeGreaterThan(Date.now() - 600_000);
    charged = holonOf(fields[4]!);
    expect(fields[4]).toMatch(/ EMETH charged$/);
    expect(charged).toBeGreaterThan(0n);
    expect((await ok(['jobs', '--keystore', keystore(), '--status', 'failed'])).trim()).toBe(
      'no Jobs in status failed',
    );
    expect(
      (await ok(['jobs', '--keystore', keystore(), '--status', 'completed', '--limit', '1'])).trim(),
    ).toBe(listed[0]);
    expect((await emeth(['jobs', '--keystore', keystore(), '--limit', '0'])).code).toBe(2);
    expect((await emeth(['jobs', '--keystore', keystore(), '--status', 'done'])).code).toBe(2);
  });

  it('result -o out.npy writes the result as .npy, converted by the gateway, with one row per input row', async () => {
    const out = await ok(['result', '--keystore', keystore(), jobId, '-o', 'out.npy']);
    const file = path.join(dir, 'out.npy');
    const written = Number(
      /^wrote (\d+) bytes to out\.npy \(npy, converted by the gateway\)$/m.exec(out)?.[1],
    );
    expect(fs.statSync(file).size).toBe(written);
    const npy = readNpy(new Uint8Array(fs.readFileSync(file)));
    expect(npy.shape[0]).toBe(ROWS);
    // The same numbers a local onnxruntime run of the model gives.
    const local = await localRun(model, dataset);
    expect(npy.shape).toEqual([local.rows, local.cols]);
    let maxDiff = 0;
    for (let i = 0; i < local.data.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(Number(npy.data[i]) - local.data[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1e-5);

    // Without a format (an extension we do not convert to): the stored bytes, the same numbers.
    const stored = await ok(['result', '--keystore', keystore(), jobId, '-o', 'out.bin']);
    expect(stored).toMatch(/^wrote \d+ bytes to out\.bin \(as stored\)$/m);
    const ds = await readDataset(new Uint8Array(fs.readFileSync(path.join(dir, 'out.bin'))));
    expect(ds.tensors[0]!.shape[0]).toBe(ROWS);
    expect(Array.from(ds.tensors[0]!.data as Float32Array).slice(0, 20)).toEqual(
      Array.from(npy.data as Float32Array).slice(0, 20),
    );

    // --format wins over the extension; CSV has a header and one line per row.
    await ok(['result', '--keystore', keystore(), jobId, '-o', 'out.txt', '--format', 'csv']);
    const csv = fs.readFileSync(path.join(dir, 'out.txt'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(ROWS + 1);
    // Nothing but the three files: the temporary files were renamed into place.
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('cancel on a finished Job is refused in one sentence (exit 1)', async () => {
    const r = await emeth(['cancel', '--keystore', keystore(), jobId]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `emeth cancel: Job ${jobId} already ended (completed); there is nothing to cancel\n`,
    );
    const bad = await emeth(['cancel', '--keystore', keystore(), 'nope']);
    expect(bad.code).toBe(2);
  });

  it('withdraw requests the free deposit, reports when it is due, and pays it after the delay', async () => {
    await p.waitForRedemptions(jobId);
    const chainDeposit = await p.core().getDeposit(address);
    const b = table(await ok(['balance', '--keystore', keystore()]));
    expect(holonOf(b.deposit!)).toBe(chainDeposit.balance);
    expect(holonOf(b.committed!)).toBe(chainDeposit.committed);
    expect(b.committed).toBe('0 EMETH');
    // Every holon the Job charged left the deposit, nothing more.
    expect(holonOf(b.deposit!)).toBe(205n * 10n ** 17n - charged);
    const free = holonOf(b.free!);
    expect(free).toBe(await p.core().freeDeposit(address));
    const walletBefore = await p.balanceOf(address);

    const requested = await ok(['withdraw', '--keystore', keystore()]);
    const delay = await p.core().withdrawalDelay();
    expect(delay).toBeGreaterThan(0n); // the stack's EmethCore keeps its 1 h delay: two steps
    expect(requested).toContain(`requested the withdrawal of ${b.free}`);
    expect(requested).toMatch(/withdrawable at \S+ \(in (1 h|5\d min)\); run `emeth withdraw` again then/);
    expect(await p.balanceOf(address)).toBe(walletBefore);
    const pending = table(await ok(['balance', '--keystore', keystore()]));
    expect(pending.pending).toMatch(new RegExp(`^${b.free!.replace('.', '\\.')}, withdrawable at `));
    expect(pending.free).toBe('0 EMETH');

    // Too early: nothing is paid, nothing more is requested.
    const early = await ok(['withdraw', '--keystore', keystore()]);
    expect(early).toMatch(/is pending withdrawal, withdrawable at .*; run `emeth withdraw` again then/);
    expect(await p.balanceOf(address)).toBe(walletBefore);

    await advanceChain(delay + 1n);
    const paid = await ok(['withdraw', '--keystore', keystore()]);
    expect(paid).toMatch(new RegExp(`^withdrew ${b.free!.replace('.', '\\.')} to the wallet ${address}`));
    expect((await p.balanceOf(address)) - walletBefore).toBe(free);
    expect(await p.depositOf(address)).toBe(0n);

    const nothing = await emeth(['withdraw', '--keystore', keystore()]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toBe(
      `emeth withdraw: the free deposit of ${address} is 0 EMETH (deposit 0 EMETH); there is nothing to withdraw\n`,
    );
    const over = await emeth(['withdraw', '--keystore', keystore(), '1']);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/1 EMETH asked for but only 0 EMETH of the deposit is free/);
  });

  it('node status shows a node its stake, earnings and tickets; node unstake takes the stake back in two steps', async () => {
    const tickets = await p.db.prisma.ticket.findMany({ where: { jobId } });
    const node = nodes.find((x) => tickets.some((t) => t.node === x.address))!;
    const key = { EMETH_KEY: node.wallet.privateKey };
    const n = await p.core().getNode(node.address);
    const s = table(await ok(['node', 'status'], key));
    expect(s.node!.toLowerCase()).toBe(node.address);
    expect(holonOf(s.stake!)).toBe(n.stake);
    expect(s.locked).toBe('0 EMETH');
    expect(s.unstaking).toBe('0 EMETH');
    expect(s.penalties).toBe('0 EMETH burned (0)');
    expect(s.registered).toBe('yes');
    expect(s.gateway).toMatch(/^online \(class cpu\), last seen \S+, [12] SubJobs verified, 0 failed$/);
    // What its tickets for the Job paid it, all redeemed.
    const mine = tickets.filter((t) => t.role === 'node' && t.node === node.address);
    const earned = mine.reduce((a, t) => a + BigInt(t.amount.toFixed(0)), 0n);
    expect(earned).toBeGreaterThan(0n);
    expect(s.earned).toBe(`${formatAmount(earned)} EMETH redeemed (${mine.length} tickets)`);
    expect(s.tickets).toBe('0 pending (0 EMETH)');

    // Another node's tickets are its own: with only --address, the chain's part.
    const other = table(await ok(['node', 'status', '--address', node.address]));
    expect(holonOf(other.stake!)).toBe(n.stake);
    expect(other.earned).toMatch(/^- \(only the node itself may read its tickets/);

    const walletBefore = await p.balanceOf(node.address);
    const req = await ok(['node', 'unstake'], key);
    expect(req).toMatch(/requested to unstake .* cooldown 86400 s/);
    expect(req).toMatch(/unlocks at .*; run `emeth node unstake` again then/);
    const waiting = await p.core().getNode(node.address);
    expect(waiting.unstaking).toBe(n.stake - n.locked);
    await advanceChain((await p.core().unstakeCooldown()) + 1n);
    const paid = await ok(['node', 'unstake'], key);
    expect(paid).toMatch(/^unstaked /);
    expect((await p.balanceOf(node.address)) - walletBefore).toBe(waiting.unstaking);
    expect((await p.core().getNode(node.address)).unstaking).toBe(0n);
  });
});
