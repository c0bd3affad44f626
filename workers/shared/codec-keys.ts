/**
 * Where the payload codec's keys come from. Every process that talks to Temporal (L2 server, nodes,
 * verifier, CLI) must hold the same keyring, or it cannot read what the others wrote.
 *
 *  - `EMETH_CODEC_KEYS=id1:base64key,id2:base64key` (32-byte keys): the first is current unless
 *    `EMETH_CODEC_KEY_ID` names another. To rotate, put a new key in, make it current, and keep the
 *    old one as long as histories written with it matter.
 *  - Otherwise, on the embedded stack (Temporal started by `emeth up`), `<EMETH_HOME>/codec-keys.json`,
 *    created with one random key `k1` (mode 0600) by whichever process needs it first.
 *  - Against an external Temporal, EMETH_CODEC_KEYS is required: a key invented per machine would
 *    make processes that share the server unable to read each other.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EmethConfig } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { checkKeyring, type CodecKeyring } from '../../lib/payload-codec';

interface KeyFile {
  current: string;
  keys: Record<string, string>;
}

/** A fresh random 32-byte key, base64. */
export function newCodecKey(): string {
  return randomBytes(32).toString('base64');
}

function decodeKey(variable: string, id: string, b64: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64))
    throw new ConfigError(variable, `${variable}: key ${id} is not base64`);
  const key = Buffer.from(b64, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(
      variable,
      `${variable}: key ${id} must be 32 bytes (AES-256) in base64, got ${key.length} bytes`,
    );
  }
  return key;
}

/** Parses `id1:base64key,id2:base64key`; the first id is current unless `currentKeyId` names another. */
export function parseCodecKeys(spec: string, currentKeyId?: string): CodecKeyring {
  const keys: Record<string, Buffer> = {};
  let first: string | undefined;
  for (const entry of spec
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const colon = entry.indexOf(':');
    if (colon <= 0)
      throw new ConfigError(
        'EMETH_CODEC_KEYS',
        'EMETH_CODEC_KEYS must look like id1:base64key,id2:base64key',
      );
    const id = entry.slice(0, colon).trim();
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
      throw new ConfigError(
        'EMETH_CODEC_KEYS',
        `EMETH_CODEC_KEYS: key id "${id}" must be 1-64 letters, digits, dots, dashes or underscores`,
      );
    }
    if (keys[id]) throw new ConfigError('EMETH_CODEC_KEYS', `EMETH_CODEC_KEYS names key ${id} twice`);
    keys[id] = decodeKey('EMETH_CODEC_KEYS', id, entry.slice(colon + 1).trim());
    first ??= id;
  }
  if (!first) throw new ConfigError('EMETH_CODEC_KEYS', 'EMETH_CODEC_KEYS is set but holds no keys');
  return withCurrent({ current: first, keys }, currentKeyId);
}

function withCurrent(keyring: CodecKeyring, currentKeyId: string | undefined): CodecKeyring {
  if (currentKeyId !== undefined) {
    if (!keyring.keys[currentKeyId]) {
      throw new ConfigError(
        'EMETH_CODEC_KEY_ID',
        `EMETH_CODEC_KEY_ID names key ${currentKeyId}, which is not among the codec keys (${Object.keys(keyring.keys).join(', ')})`,
      );
    }
    keyring = { ...keyring, current: currentKeyId };
  }
  checkKeyring(keyring);
  return keyring;
}

/** Reads the key file, creating it with one random key `k1` when it does not exist yet. */
export function readOrCreateKeyFile(file: string): CodecKeyring {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const content: KeyFile = { current: 'k1', keys: { k1: newCodecKey() } };
    fs.writeFileSync(tmp, JSON.stringify(content, null, 2) + '\n', { mode: 0o600 });
    try {
      // link fails when the file exists: of processes starting together, exactly one key wins.
      fs.linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as KeyFile;
  } catch (err) {
    throw new ConfigError(
      'EMETH_CODEC_KEYS',
      `codec key file ${file} is unreadable: ${(err as Error).message}`,
    );
  }
  if (
    !parsed ||
    typeof parsed.current !== 'string' ||
    typeof parsed.keys !== 'object' ||
    parsed.keys === null
  ) {
    throw new ConfigError(
      'EMETH_CODEC_KEYS',
      `codec key file ${file} must hold { "current": "<id>", "keys": { "<id>": "<base64>" } }`,
    );
  }
  const keys: Record<string, Buffer> = {};
  for (const [id, b64] of Object.entries(parsed.keys))
    keys[id] = decodeKey(`codec key file ${file}`, id, String(b64));
  if (!keys[parsed.current])
    throw new ConfigError(
      'EMETH_CODEC_KEYS',
      `codec key file ${file}: current key ${parsed.current} is not in its keys`,
    );
  return { current: parsed.current, keys };
}

/** The keyring this process encrypts and decrypts Temporal payloads with. */
export function loadKeyring(
  config: Pick<EmethConfig, 'codec'> & { temporal: Pick<EmethConfig['temporal'], 'embedded'> },
): CodecKeyring {
  if (config.codec.keys) return parseCodecKeys(config.codec.keys, config.codec.currentKeyId);
  if (!config.temporal.embedded) {
    throw new ConfigError(
      'EMETH_CODEC_KEYS',
      'EMETH_CODEC_KEYS is required with an external Temporal (EMETH_TEMPORAL_ADDRESS): every process on it must share the same ' +
        'payload keys (id1:base64key,...; make one with `openssl rand -base64 32`). A machine running `emeth up` keeps its keys in ' +
        `${config.codec.keyFile}`,
    );
  }
  return withCurrent(readOrCreateKeyFile(config.codec.keyFile), config.codec.currentKeyId);
}
