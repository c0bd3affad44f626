/**
 * Where a participant (node, verifier, keyholder, CLI) gets its private key: the EMETH_KEY variable
 * or a file only its owner can read (`--key-file`). Never argv: every user of the machine sees a
 * process's argv in `ps`.
 */
import fs from 'node:fs';
import { ConfigError } from './errors';

const HEX_KEY = /^0x[0-9a-fA-F]{64}$/;

/** The one sentence every refusal ends with. */
export const KEY_SOURCES =
  'pass the key in the EMETH_KEY environment variable or in a file only you can read (chmod 600) with --key-file <path>';

/**
 * The key from `--key-file` (checked for mode 0600 or stricter) or else `EMETH_KEY` (config
 * `participantKey`). `argvKey` is a `--key` value, refused: it would be visible in `ps`.
 */
export function participantKey(opts: {
  /** Who needs it, for the messages: "node", "verifier", "requester". */
  role: string;
  keyFile?: string;
  envKey?: string;
  argvKey?: string;
}): string {
  if (opts.argvKey !== undefined) {
    throw new ConfigError(
      '--key',
      `--key is no longer accepted: a key on the command line is visible to every user in ps; ${KEY_SOURCES}`,
    );
  }
  let key: string | undefined;
  if (opts.keyFile) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(opts.keyFile);
    } catch {
      throw new ConfigError('--key-file', `--key-file ${opts.keyFile} does not exist or cannot be read`);
    }
    if ((stat.mode & 0o077) !== 0) {
      throw new ConfigError(
        '--key-file',
        `--key-file ${opts.keyFile} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 ${opts.keyFile}`,
      );
    }
    key = fs.readFileSync(opts.keyFile, 'utf8').trim();
  } else {
    key = opts.envKey;
  }
  if (!key) throw new ConfigError('EMETH_KEY', `the ${opts.role} needs its private key: ${KEY_SOURCES}`);
  if (!HEX_KEY.test(key))
    throw new ConfigError(
      opts.keyFile ? '--key-file' : 'EMETH_KEY',
      `the ${opts.role}'s key must be a 32-byte hex private key (0x followed by 64 hex digits)`,
    );
  return key;
}

/** Writes a key file as participantKey wants it: created 0600 (and narrowed to 0600 if it existed). */
export function writeKeyFile(file: string, key: string): void {
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, key + '\n');
  } finally {
    fs.closeSync(fd);
  }
}
