import path from 'node:path';
import { loadConfig, DEFAULT_PORTS } from '../../lib/config';
import { ConfigError } from '../../lib/errors';

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
