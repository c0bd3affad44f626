/**
 * Where the requester's and node's commands get their key, never from argv (`ps` shows every
 * process's arguments to every user):
 *  - `--keystore <file>`: an encrypted JSON keystore (ethers v6 / geth v3), opened with the
 *    password in EMETH_KEYSTORE_PASSWORD or, on a terminal, typed at a hidden prompt;
 *  - `--key-file <file>` (mode 0600) or EMETH_KEY (lib/participant-key, as `emeth submit`).
 * `emeth keys new` creates a keystore (0600) and `emeth keys address` prints a key's address.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Wallet, getAddress, isKeystoreJson } from 'ethers';
import type { EmethConfig } from '../../lib/config';
import { EmethError } from '../../lib/errors';
import { participantKey } from '../../lib/participant-key';
import {
  UsageError,
  runCommand,
  stringOption,
  type CommandSpec,
  type Io,
  type OptionSpec,
  type Parsed,
} from './args';

export const PASSWORD_VARIABLE = 'EMETH_KEYSTORE_PASSWORD';

export const KEY_OPTIONS: Record<string, OptionSpec> = {
  keystore: {
    type: 'string',
    value: 'file',
    help: `an encrypted JSON keystore; its password from ${PASSWORD_VARIABLE} or a hidden prompt`,
  },
  'key-file': {
    type: 'string',
    value: 'file',
    help: 'a file holding the private key, readable only by you (chmod 600); else EMETH_KEY',
  },
};

export class KeystoreError extends EmethError {
  constructor(message: string) {
    super('KEYSTORE', message);
  }
}

/** The keystore's password: EMETH_KEYSTORE_PASSWORD, else a hidden prompt on a terminal (twice for a new one). */
export async function keystorePassword(
  io: Io,
  file: string,
  opts: { confirm?: boolean } = {},
): Promise<string> {
  const fromEnv = io.env[PASSWORD_VARIABLE];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!io.prompt)
    throw new KeystoreError(
      `the keystore ${file} needs its password: set ${PASSWORD_VARIABLE}, or run the command on a terminal to type it`,
    );
  const password = await io.prompt(`password for ${file}: `);
  if (opts.confirm) {
    const again = await io.prompt('the same password again: ');
    if (again !== password) throw new KeystoreError('the two passwords differ; run the command again');
  }
  return password;
}

/** Opens an encrypted JSON keystore. */
export async function readKeystore(file: string, password: string): Promise<Wallet> {
  let json: string;
  try {
    json = fs.readFileSync(file, 'utf8');
  } catch {
    throw new KeystoreError(
      `--keystore ${file} does not exist or cannot be read; create one with \`emeth keys new --keystore ${file}\``,
    );
  }
  if (!isKeystoreJson(json))
    throw new KeystoreError(
      `--keystore ${file} is not an encrypted JSON keystore; give the file \`emeth keys new\` wrote (or another ethers/geth v3 keystore)`,
    );
  let wallet: { privateKey: string };
  try {
    wallet = await Wallet.fromEncryptedJson(json, password);
  } catch (err) {
    const msg = (err as Error).message ?? '';
    if (/incorrect password/i.test(msg))
      throw new KeystoreError(
        `the password does not open ${file}; check ${PASSWORD_VARIABLE} (or what you typed) and try again`,
      );
    throw new KeystoreError(`--keystore ${file} could not be opened (${msg.split(' (')[0]}); check the file`);
  }
  return new Wallet(wallet.privateKey);
}

/** The address a keystore names, read without its password. */
export function keystoreAddress(file: string): string {
  let json: string;
  try {
    json = fs.readFileSync(file, 'utf8');
  } catch {
    throw new KeystoreError(`--keystore ${file} does not exist or cannot be read; check the path`);
  }
  if (!isKeystoreJson(json))
    throw new KeystoreError(`--keystore ${file} is not an encrypted JSON keystore; check the path`);
  const address = (JSON.parse(json) as { address?: string }).address;
  if (!address)
    throw new KeystoreError(`--keystore ${file} names no address; open it with its password instead`);
  return getAddress(address.startsWith('0x') ? address : `0x${address}`);
}

/**
 * Writes a fresh key to `file`, encrypted with `password`, created 0600 and never over an existing
 * file (O_EXCL). Returns the address.
 */
export async function createKeystore(file: string, password: string, wallet?: Wallet): Promise<string> {
  if (password === '') throw new KeystoreError('the keystore password is empty; choose a password');
  if (fs.existsSync(file))
    throw new KeystoreError(`${file} exists already; choose another file (a keystore is never overwritten)`);
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new KeystoreError(`the directory ${dir} does not exist; create it first`);
  const w = wallet ?? new Wallet(Wallet.createRandom().privateKey);
  const json = await w.encrypt(password);
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (err) {
    throw new KeystoreError(
      `${file} could not be created (${(err as NodeJS.ErrnoException).code}); choose another file`,
    );
  }
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, json + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return w.address;
}

/** The command's key: --keystore, else --key-file, else EMETH_KEY. `role` names who needs it in messages. */
export async function loadSigner(
  p: Parsed,
  config: EmethConfig,
  io: Io,
  role = 'requester',
): Promise<Wallet> {
  const keystore = stringOption(p, 'keystore');
  const keyFile = stringOption(p, 'key-file');
  if (keystore && keyFile)
    throw new UsageError('give either --keystore or --key-file, not both: they are two keys');
  if (keystore) return readKeystore(keystore, await keystorePassword(io, keystore));
  return new Wallet(participantKey({ role, keyFile, envKey: config.participantKey }));
}

/** Whether the command line or environment names a key at all (for commands where one is optional). */
export function hasKeySource(p: Parsed, config: EmethConfig): boolean {
  return Boolean(stringOption(p, 'keystore') || stringOption(p, 'key-file') || config.participantKey);
}

/**
 * For the commands that take their key from `--key-file`/EMETH_KEY only (`submit`, `status`):
 * a `--keystore <file>` is taken out of `argv` and its key handed on as the config's EMETH_KEY,
 * in this process only. Without --keystore, `argv` and `config` come back as they were.
 */
export async function keystoreAsParticipantKey(
  argv: string[],
  config: EmethConfig,
  io: Io,
): Promise<{ argv: string[]; config: EmethConfig }> {
  const rest: string[] = [];
  let keystore: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--keystore' || a.startsWith('--keystore=')) {
      keystore = a === '--keystore' ? argv[++i] : a.slice('--keystore='.length);
      if (!keystore)
        throw new UsageError('--keystore needs a file; run the command with --help for its options');
    } else rest.push(a);
  }
  if (!keystore) return { argv, config };
  if (rest.some((a) => a === '--key-file' || a.startsWith('--key-file=')))
    throw new UsageError('give either --keystore or --key-file, not both: they are two keys');
  const wallet = await readKeystore(keystore, await keystorePassword(io, keystore));
  return { argv: rest, config: { ...config, participantKey: wallet.privateKey } };
}

const KEYS_NEW: CommandSpec = {
  name: 'keys new',
  summary: `Creates a new private key in an encrypted JSON keystore (mode 0600) and prints its address.\nThe password comes from ${PASSWORD_VARIABLE}, or is asked for twice on a terminal.`,
  options: {
    keystore: { type: 'string', value: 'file', help: 'where to write it (never over an existing file)' },
  },
  positionals: { min: 0, max: 0 },
};

const KEYS_ADDRESS: CommandSpec = {
  name: 'keys address',
  summary: "Prints the address of the key the other commands would use (a keystore's without its password).",
  options: KEY_OPTIONS,
  positionals: { min: 0, max: 0 },
};

export const KEYS_USAGE =
  'usage: emeth keys new --keystore <file> | emeth keys address [--keystore <file> | --key-file <file>]';

/** `emeth keys new|address`. */
export async function keysCommand(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'new')
    return runCommand(KEYS_NEW, rest, io, async (p) => {
      const file = stringOption(p, 'keystore');
      if (!file) throw new UsageError('emeth keys new needs --keystore <file>: where to write the new key');
      const address = await createKeystore(file, await keystorePassword(io, file, { confirm: true }));
      io.out(`created ${file} (mode 0600) for address ${address}`);
      io.out(`fund it with EMETH and some ETH for gas, then: emeth deposit --keystore ${file} <EMETH>`);
    });
  if (sub === 'address')
    return runCommand(KEYS_ADDRESS, rest, io, async (p) => {
      const keystore = stringOption(p, 'keystore');
      if (keystore && stringOption(p, 'key-file'))
        throw new UsageError('give either --keystore or --key-file, not both: they are two keys');
      io.out(keystore ? keystoreAddress(keystore) : (await loadSigner(p, config, io)).address);
    });
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.out(KEYS_USAGE);
    return 0;
  }
  io.err(`emeth keys: ${sub ? `unknown subcommand "${sub}"` : 'a subcommand is needed'}; ${KEYS_USAGE}`);
  return 2;
}
