import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Wallet } from 'ethers';
import {
  loadConfig,
  assertL2Keys,
  DEFAULT_PORTS,
  ANVIL_DEV_KEY,
  ANVIL_DEV_L2_KEY,
  DEV_STORAGE_KEY,
} from '../../lib/config';
import { DEV_ROLES, devKey, publicDevKeys } from '../../lib/dev-accounts';
import { ConfigError } from '../../lib/errors';
import { participantKey, writeKeyFile } from '../../lib/participant-key';

describe('loadConfig', () => {
  it('defaults to the embedded stack under .emeth', () => {
    const c = loadConfig({}, '/srv/emeth');
    expect(c.home).toBe('/srv/emeth/.emeth');
    expect(c.temporal).toMatchObject({
      address: `127.0.0.1:${DEFAULT_PORTS.temporal}`,
      embedded: true,
      uiPort: 8233,
    });
    expect(c.chain).toMatchObject({ rpcUrl: 'http://127.0.0.1:8545', embedded: true, chainId: 31337 });
    expect(c.database).toMatchObject({ embedded: true, dataDir: path.join('/srv/emeth/.emeth', 'pgdata') });
    expect(c.database.url).toBe('postgresql://postgres:postgres@127.0.0.1:5433/postgres');
    expect(c.gateway.url).toBe('http://127.0.0.1:8080');
    expect(c.temporalUiUrl).toBe('http://127.0.0.1:8233');
  });

  it('reads the payload codec keys and token; the key file lives under EMETH_HOME', () => {
    expect(loadConfig({}, '/srv/emeth').codec).toEqual({
      keys: undefined,
      currentKeyId: undefined,
      keyFile: '/srv/emeth/.emeth/codec-keys.json',
      token: undefined,
    });
    const c = loadConfig(
      {
        EMETH_HOME: '/var/lib/emeth',
        EMETH_CODEC_KEYS: 'k1:AAAA,k2:BBBB',
        EMETH_CODEC_KEY_ID: 'k2',
        EMETH_CODEC_TOKEN: 'op-token',
      },
      '/tmp',
    );
    expect(c.codec).toEqual({
      keys: 'k1:AAAA,k2:BBBB',
      currentKeyId: 'k2',
      keyFile: '/var/lib/emeth/codec-keys.json',
      token: 'op-token',
    });
  });

  it('points each part elsewhere when its variable is set', () => {
    const c = loadConfig(
      {
        EMETH_HOME: '/var/lib/emeth',
        EMETH_TEMPORAL_ADDRESS: 'temporal.internal:7233',
        EMETH_CHAIN_RPC: 'https://rpc.example.org',
        DATABASE_URL: 'postgresql://u:p@db:5432/emeth',
        EMETH_GATEWAY_PORT: '9090',
        EMETH_TEMPORAL_UI_PORT: '9233',
      },
      '/tmp',
    );
    expect(c.home).toBe('/var/lib/emeth');
    expect(c.temporal).toMatchObject({ address: 'temporal.internal:7233', embedded: false });
    expect(c.chain).toMatchObject({ rpcUrl: 'https://rpc.example.org', embedded: false });
    expect(c.database).toMatchObject({ url: 'postgresql://u:p@db:5432/emeth', embedded: false });
    expect(c.gateway.port).toBe(9090);
    expect(c.temporalUiUrl).toBe('http://127.0.0.1:9233');
  });

  it('EMETH_DATABASE_URL wins over DATABASE_URL', () => {
    const c = loadConfig({ DATABASE_URL: 'postgresql://a@x/a', EMETH_DATABASE_URL: 'postgresql://b@y/b' });
    expect(c.database.url).toBe('postgresql://b@y/b');
  });

  it.each([
    ['EMETH_GATEWAY_PORT', 'http'],
    ['EMETH_ANVIL_PORT', '70000'],
    ['EMETH_PGLITE_PORT', '-1'],
    ['EMETH_CHAIN_ID', '0'],
    ['EMETH_CHAIN_RPC', 'not a url'],
    ['EMETH_DEPLOYER_KEY', '0x1234'],
    ['EMETH_L2_KEY', 'abc'],
    ['EMETH_SIGNER_KEY', '0x12'],
    ['EMETH_STORAGE_KEY', '0x' + 'g'.repeat(64)],
  ])('rejects a malformed %s with an error naming it', (variable, value) => {
    let caught: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe(variable);
    expect((caught as ConfigError).message).toContain(variable);
  });
});

describe('the L2 keys (assertL2Keys)', () => {
  const own = () => Wallet.createRandom().privateKey;
  const external = { EMETH_CHAIN_RPC: 'https://rpc.example.org' };
  const fail = (env: Record<string, string>): ConfigError => {
    try {
      assertL2Keys(loadConfig(env), publicDevKeys());
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return e as ConfigError;
    }
    throw new Error('assertL2Keys accepted ' + JSON.stringify(Object.keys(env)));
  };

  it('the embedded stack runs on its three distinct development keys', () => {
    const c = loadConfig({});
    expect(c.chain.embedded).toBe(true);
    expect(c.l2.key).toBe(ANVIL_DEV_L2_KEY);
    expect(c.l2.signerKey).toBe(devKey(DEV_ROLES.signer));
    expect(c.l2.storageKey).toBe(DEV_STORAGE_KEY);
    expect(new Set([c.l2.key, c.l2.signerKey, c.l2.storageKey]).size).toBe(3);
    expect(() => assertL2Keys(c, publicDevKeys())).not.toThrow();
  });

  it.each(['EMETH_L2_KEY', 'EMETH_SIGNER_KEY', 'EMETH_STORAGE_KEY'])(
    'refuses a public development key as %s on any chain but the embedded anvil',
    (variable) => {
      const mine = { EMETH_L2_KEY: own(), EMETH_SIGNER_KEY: own(), EMETH_STORAGE_KEY: own() };
      // The dev default (variable unset) and a mnemonic key set explicitly are both refused.
      const unset: Record<string, string> = { ...external, ...mine };
      delete unset[variable];
      expect(fail(unset).variable).toBe(variable);
      const anvil = fail({ ...external, ...mine, [variable]: ANVIL_DEV_KEY });
      expect(anvil.variable).toBe(variable);
      expect(anvil.message).toMatch(/public development key/);
      expect(anvil.message).toContain('https://rpc.example.org');
      expect(fail({ ...external, ...mine, [variable]: devKey(13) }).variable).toBe(variable);
    },
  );

  it('accepts keys of the operator’s own on an external chain', () => {
    const c = loadConfig({
      ...external,
      EMETH_L2_KEY: own(),
      EMETH_SIGNER_KEY: own(),
      EMETH_STORAGE_KEY: own(),
    });
    expect(() => assertL2Keys(c, publicDevKeys())).not.toThrow();
  });

  it.each([
    ['EMETH_L2_KEY', 'EMETH_SIGNER_KEY'],
    ['EMETH_L2_KEY', 'EMETH_STORAGE_KEY'],
    ['EMETH_SIGNER_KEY', 'EMETH_STORAGE_KEY'],
  ])('refuses %s equal to %s, on the embedded chain too', (a, b) => {
    const shared = own();
    const keys: Record<string, string> = {
      EMETH_L2_KEY: own(),
      EMETH_SIGNER_KEY: own(),
      EMETH_STORAGE_KEY: own(),
    };
    keys[a] = shared;
    keys[b] = shared.toUpperCase().replace('0X', '0x');
    for (const env of [keys, { ...external, ...keys }]) {
      const err = fail(env);
      expect(err.message).toContain(a);
      expect(err.message).toContain(b);
      expect(err.message).toMatch(/three different keys/);
    }
  });
});

describe('participant keys (lib/participant-key)', () => {
  const key = Wallet.createRandom().privateKey;
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emeth-key-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes EMETH_KEY (config participantKey) or a 0600 --key-file', () => {
    expect(loadConfig({ EMETH_KEY: key }).participantKey).toBe(key);
    expect(participantKey({ role: 'node', envKey: key })).toBe(key);
    const file = path.join(dir, 'node.key');
    writeKeyFile(file, key);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(participantKey({ role: 'node', keyFile: file })).toBe(key);
  });

  it('refuses --key, a key file readable by group or others, and no key at all, saying how instead', () => {
    expect(() => participantKey({ role: 'node', argvKey: key, envKey: key })).toThrow(
      /--key is no longer accepted.*EMETH_KEY.*--key-file/,
    );
    const file = path.join(dir, 'loose.key');
    fs.writeFileSync(file, key);
    for (const mode of [0o640, 0o604, 0o644]) {
      fs.chmodSync(file, mode);
      expect(() => participantKey({ role: 'node', keyFile: file })).toThrow(
        /readable by group or others.*chmod 600/,
      );
    }
    expect(() => participantKey({ role: 'verifier' })).toThrow(
      /the verifier needs its private key.*EMETH_KEY/,
    );
    expect(() => participantKey({ role: 'node', envKey: '0x1234' })).toThrow(/32-byte hex private key/);
  });
});
