import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Wallet } from 'ethers';
import { loadConfig } from '../../lib/config';
import { writeKeyFile } from '../../lib/participant-key';
import { EmethCore__factory, EmethToken__factory } from '../../contracts/typed';
import {
  UsageError,
  emeth,
  formatAmount,
  parseAmount,
  parseCommand,
  resultFormat,
  runCommand,
  usageOf,
  when,
  type CommandSpec,
  type Io,
} from '../../cli/requester/args';
import { chainFailure, decodeChainError } from '../../cli/requester/chain';
import {
  KEY_OPTIONS,
  KeystoreError,
  createKeystore,
  keystoreAddress,
  keystoreAsParticipantKey,
  keystorePassword,
  loadSigner,
  readKeystore,
} from '../../cli/requester/keys';
import { jobLine, writeAtomically } from '../../cli/requester/jobs';

const SPEC: CommandSpec = {
  name: 'withdraw',
  args: '[<EMETH>]',
  summary: 'Takes deposit back.',
  options: { ...KEY_OPTIONS, limit: { type: 'string', value: 'N', help: 'at most N' } },
  positionals: { min: 0, max: 1 },
};

function bufferIo(
  env: Record<string, string | undefined> = {},
  answers?: string[],
): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env,
    prompt: answers ? async () => answers.shift() ?? '' : undefined,
  };
}

describe('argument parsing', () => {
  it('parses options and positionals, and --help asks for the usage', () => {
    expect(parseCommand(SPEC, ['--limit', '5', '12.5'])).toEqual({
      values: { limit: '5' },
      positionals: ['12.5'],
    });
    expect(parseCommand(SPEC, ['--help'])).toBeUndefined();
    expect(parseCommand(SPEC, ['-h', '3'])).toBeUndefined();
  });

  it('refuses --key and --password on argv with one sentence saying why, never echoing the value', () => {
    const secret = '0x' + 'ab'.repeat(32);
    for (const argv of [
      ['--key', secret],
      [`--key=${secret}`],
      ['--key'],
      ['5', '--password', 'hunter2'],
      ['--password=x'],
    ]) {
      let err: unknown;
      try {
        parseCommand(SPEC, argv);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/visible to every user of this machine in ps/);
      expect(msg).not.toContain(secret);
      expect(msg).not.toContain('hunter2');
      expect(msg.split('; ').length).toBeLessThanOrEqual(2);
    }
    // After `--` it is a positional, not an option.
    expect(parseCommand(SPEC, ['--', '--key'])!.positionals).toEqual(['--key']);
  });

  it('names an unknown option, a missing value and a wrong number of arguments as usage errors', () => {
    expect(() => parseCommand(SPEC, ['--bogus'])).toThrow(
      /^unknown option --bogus; run `emeth withdraw --help`/,
    );
    expect(() => parseCommand(SPEC, ['--limit'])).toThrow(/option --limit needs a value/);
    expect(() => parseCommand(SPEC, ['1', '2'])).toThrow(/takes \[<EMETH>\] or nothing \(got 1 2\)/);
    expect(() => parseCommand({ ...SPEC, positionals: { min: 1, max: 1 }, args: '<EMETH>' }, [])).toThrow(
      /emeth withdraw takes <EMETH>/,
    );
  });

  it('prints a usage with one line per option, --help included', () => {
    const usage = usageOf(SPEC);
    expect(usage.split('\n')[0]).toBe('usage: emeth withdraw [options] [<EMETH>]');
    for (const flag of ['--keystore <file>', '--key-file <file>', '--limit <N>', '-h, --help'])
      expect(usage.split('\n').filter((l) => l.includes(flag))).toHaveLength(1);
  });

  it('runs a command with exit 0 on success, 2 on a usage error and 1 on any other failure', async () => {
    const io = bufferIo();
    expect(
      await runCommand(SPEC, ['1'], io, async () => {
        io.out('done');
      }),
    ).toBe(0);
    expect(await runCommand(SPEC, ['--help'], io, async () => 1)).toBe(0);
    expect(io.lines).toEqual(['done', usageOf(SPEC)]);
    expect(await runCommand(SPEC, ['--nope'], io, async () => 0)).toBe(2);
    expect(
      await runCommand(SPEC, [], io, async () => {
        throw new KeystoreError('the password does not open x; check it');
      }),
    ).toBe(1);
    expect(io.errors).toEqual([
      'emeth withdraw: unknown option --nope; run `emeth withdraw --help` for its options',
      'emeth withdraw: the password does not open x; check it',
    ]);
  });
});

describe('amounts in EMETH', () => {
  it('converts decimal EMETH with parseUnits to the token decimals', () => {
    expect(parseAmount('12.5')).toBe(12_500_000_000_000_000_000n);
    expect(parseAmount('100')).toBe(100n * 10n ** 18n);
    expect(parseAmount('0.000000000000000001')).toBe(1n);
    expect(parseAmount(' 7 ')).toBe(7n * 10n ** 18n);
    expect(parseAmount('1.5', 6)).toBe(1_500_000n);
  });

  it('refuses what is not a positive decimal amount the token can hold', () => {
    expect(() => parseAmount('0')).toThrow(/must be more than 0 EMETH/);
    expect(() => parseAmount('0.0')).toThrow(UsageError);
    expect(() => parseAmount('-1')).toThrow(/not an amount of EMETH/);
    expect(() => parseAmount('1e3')).toThrow(/not an amount of EMETH/);
    expect(() => parseAmount('1,5')).toThrow(/write it in decimal/);
    expect(() => parseAmount('.5')).toThrow(UsageError);
    expect(() => parseAmount('0.0000000000000000001')).toThrow(/more than 18 decimals/);
    expect(() => parseAmount('1.1234567', 6)).toThrow(/more than 6 decimals/);
  });

  it('prints amounts without trailing zeros', () => {
    expect(formatAmount(12_500_000_000_000_000_000n)).toBe('12.5');
    expect(formatAmount(0n)).toBe('0');
    expect(formatAmount(100n * 10n ** 18n)).toBe('100');
    expect(formatAmount(1n)).toBe('0.000000000000000001');
    expect(emeth(1_500_000n, 6)).toBe('1.5 EMETH');
    for (const s of ['12.5', '0.001', '499.874', '1']) expect(formatAmount(parseAmount(s))).toBe(s);
  });
});

describe('times', () => {
  it('says when a delay ends, in hours and minutes from the chain clock', () => {
    const at = 1_700_000_000;
    expect(when(at, at)).toBe('2023-11-14T22:13:20Z (now)');
    expect(when(at, at - 3600)).toBe('2023-11-14T22:13:20Z (in 1 h)');
    expect(when(at, at - 3599)).toBe('2023-11-14T22:13:20Z (in 1 h)');
    expect(when(at, at - 3540)).toBe('2023-11-14T22:13:20Z (in 59 min)');
    expect(when(at, at - 86_400 - 90)).toBe('2023-11-14T22:13:20Z (in 24 h 2 min)');
    expect(when(at, at - 1)).toBe('2023-11-14T22:13:20Z (in 1 min)');
  });
});

describe('result formats', () => {
  it('takes --format, else the file extension, else the stored bytes', () => {
    expect(resultFormat('npz', 'out.npy')).toBe('npz');
    expect(resultFormat('CSV', 'out')).toBe('csv');
    expect(resultFormat(undefined, 'dir.v2/out.NPY')).toBe('npy');
    expect(resultFormat(undefined, 'out.csv')).toBe('csv');
    expect(resultFormat(undefined, 'out.emt')).toBeUndefined();
    expect(resultFormat(undefined, 'out')).toBeUndefined();
    expect(() => resultFormat('parquet', 'out')).toThrow(
      /--format parquet is not one the gateway converts to/,
    );
  });

  it('writes a file whole, through a temporary file, leaving nothing else behind', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-out-'));
    const file = path.join(dir, 'out.npy');
    fs.writeFileSync(file, 'old');
    writeAtomically(file, new Uint8Array([1, 2, 3]));
    expect([...fs.readFileSync(file)]).toEqual([1, 2, 3]);
    expect(fs.readdirSync(dir)).toEqual(['out.npy']);
    expect(() => writeAtomically(path.join(dir, 'no', 'x'), new Uint8Array(1))).toThrow(
      /does not exist; create it/,
    );
    fs.rmSync(dir, { recursive: true });
  });

  it('lists a Job in one line: id, program, status, created, fee', () => {
    const fees = {
      feeLimit: '0.12',
      verifierFee: '0.006',
      reserved: '0.126',
      charged: '0.01',
      refunded: '0.116',
    };
    const id = '0x' + '1'.repeat(64);
    const line = jobLine({
      id,
      status: 'completed',
      programId: 1,
      createdAt: '2025-01-01T00:00:00.000Z',
      fees: { emeth: fees },
    });
    expect(line.split(/\s{2,}/)).toEqual([
      id,
      'onnx-inference',
      'completed',
      '2025-01-01T00:00:00.000Z',
      '0.01 EMETH charged',
    ]);
    expect(jobLine({ id, status: 'running', programId: 9, createdAt: 'x', fees: { emeth: fees } })).toMatch(
      /program 9\s+running\s+x\s+0.126 EMETH reserved$/,
    );
  });
});

describe('keys', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-keys-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = (env: Record<string, string> = {}) => loadConfig(env, dir);

  it('creates a keystore 0600 that opens with its password only, and never overwrites one', async () => {
    const file = path.join(dir, 'me.json');
    const address = await createKeystore(file, 'correct horse');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(keystoreAddress(file)).toBe(address);
    expect((await readKeystore(file, 'correct horse')).address).toBe(address);
    await expect(readKeystore(file, 'wrong')).rejects.toThrow(
      /the password does not open .*me\.json; check EMETH_KEYSTORE_PASSWORD/,
    );
    await expect(createKeystore(file, 'x')).rejects.toThrow(/exists already; choose another file/);
    await expect(createKeystore(path.join(dir, 'empty.json'), '')).rejects.toThrow(/password is empty/);
    await expect(readKeystore(path.join(dir, 'missing.json'), 'x')).rejects.toThrow(
      /emeth keys new --keystore/,
    );
    fs.writeFileSync(path.join(dir, 'plain.json'), '{"hello":1}');
    await expect(readKeystore(path.join(dir, 'plain.json'), 'x')).rejects.toThrow(
      /not an encrypted JSON keystore/,
    );
  });

  it('takes the password from EMETH_KEYSTORE_PASSWORD, else a prompt, else says how to give it', async () => {
    await expect(keystorePassword(bufferIo({ EMETH_KEYSTORE_PASSWORD: 'pw' }), 'f')).resolves.toBe('pw');
    await expect(keystorePassword(bufferIo({}, ['typed']), 'f')).resolves.toBe('typed');
    await expect(keystorePassword(bufferIo({}, ['a', 'b']), 'f', { confirm: true })).rejects.toThrow(
      /passwords differ/,
    );
    await expect(keystorePassword(bufferIo({}), 'f')).rejects.toThrow(
      /needs its password: set EMETH_KEYSTORE_PASSWORD, or run the command on a terminal/,
    );
  });

  it('loads the key from --keystore, else --key-file, else EMETH_KEY, and refuses two at once', async () => {
    const file = path.join(dir, 'load.json');
    const ks = new Wallet(Wallet.createRandom().privateKey);
    await createKeystore(file, 'pw', ks);
    const io = bufferIo({ EMETH_KEYSTORE_PASSWORD: 'pw' });
    const kf = new Wallet(Wallet.createRandom().privateKey);
    const keyFile = path.join(dir, 'node.key');
    writeKeyFile(keyFile, kf.privateKey);
    const env = new Wallet(Wallet.createRandom().privateKey);
    const parsed = (values: Record<string, string>) => ({ values, positionals: [] });
    expect(
      (await loadSigner(parsed({ keystore: file }), config({ EMETH_KEY: env.privateKey }), io)).address,
    ).toBe(ks.address);
    expect(
      (await loadSigner(parsed({ 'key-file': keyFile }), config({ EMETH_KEY: env.privateKey }), io)).address,
    ).toBe(kf.address);
    expect((await loadSigner(parsed({}), config({ EMETH_KEY: env.privateKey }), io)).address).toBe(
      env.address,
    );
    await expect(loadSigner(parsed({ keystore: file, 'key-file': keyFile }), config(), io)).rejects.toThrow(
      UsageError,
    );
    await expect(loadSigner(parsed({}), config(), io)).rejects.toThrow(/needs its private key/);
    fs.chmodSync(keyFile, 0o644);
    await expect(loadSigner(parsed({ 'key-file': keyFile }), config(), io)).rejects.toThrow(/chmod 600/);
  });

  it('hands a keystore to submit/status as their EMETH_KEY, taking --keystore out of argv', async () => {
    const file = path.join(dir, 'submit.json');
    const w = new Wallet(Wallet.createRandom().privateKey);
    await createKeystore(file, 'pw', w);
    const io = bufferIo({ EMETH_KEYSTORE_PASSWORD: 'pw' });
    const a = await keystoreAsParticipantKey(
      ['--dataset', 'd', `--keystore=${file}`, '--detach'],
      config(),
      io,
    );
    expect(a.argv).toEqual(['--dataset', 'd', '--detach']);
    expect(a.config.participantKey).toBe(w.privateKey);
    const b = await keystoreAsParticipantKey(['--keystore', file, 'x'], config(), io);
    expect(b.argv).toEqual(['x']);
    const same = ['--key-file', 'k', 'x'];
    expect((await keystoreAsParticipantKey(same, config(), io)).argv).toBe(same);
    await expect(
      keystoreAsParticipantKey(['--keystore', file, '--key-file', 'k'], config(), io),
    ).rejects.toThrow(UsageError);
  });
});

describe('contract reverts', () => {
  const core = EmethCore__factory.createInterface();
  const token = EmethToken__factory.createInterface();
  const who = '0x' + '12'.repeat(20);
  // How ethers reports a reverted estimate: the revert data somewhere inside the error.
  const reverted = (data: string) =>
    Object.assign(new Error('execution reverted'), { code: 'CALL_EXCEPTION', info: { error: { data } } });

  it('decodes the custom error name of EmethCore and EmethToken', () => {
    const data = core.encodeErrorResult('WithdrawalNotReady', [who, 1_700_000_000n]);
    expect(decodeChainError(reverted(data))).toMatchObject({
      contract: 'EmethCore',
      error: { name: 'WithdrawalNotReady' },
    });
    const t = token.encodeErrorResult('ERC20InsufficientBalance', [who, 1n, 2n]);
    expect(decodeChainError(reverted(t))).toMatchObject({
      contract: 'EmethToken',
      error: { name: 'ERC20InsufficientBalance' },
    });
    expect(decodeChainError(new Error('nothing here'))).toBeUndefined();
  });

  it('says what the error means and what to do, amounts in EMETH', () => {
    const cfg = loadConfig({}, '/tmp');
    const data = core.encodeErrorResult('InsufficientFreeDeposit', [who, 5n * 10n ** 18n, 25n * 10n ** 17n]);
    const err = chainFailure(reverted(data), 'requestWithdrawal', cfg, 18);
    expect(err.message).toBe(
      'EmethCore refused requestWithdrawal with InsufficientFreeDeposit: 5 EMETH asked for but only 2.5 EMETH of the deposit is free (the rest is committed to Jobs or already pending withdrawal); ask for at most that',
    );
    const gas = chainFailure(
      Object.assign(new Error('x'), { code: 'INSUFFICIENT_FUNDS' }),
      'deposit',
      cfg,
      18,
    );
    expect(gas.message).toMatch(/deposit needs gas but the wallet has no ETH/);
    const down = chainFailure(
      Object.assign(new Error('request failed'), { cause: new Error('connect ECONNREFUSED') }),
      'deposit',
      cfg,
      18,
    );
    expect(down.message).toBe(
      'could not reach the chain at http://127.0.0.1:8545 for deposit; start it with `emeth up` or set EMETH_CHAIN_RPC',
    );
  });
});
