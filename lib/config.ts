import type { VerificationPolicy } from './verification-policy';
import path from 'node:path';
import { ConfigError } from './errors';

/**
 * The one typed configuration of EMETH, read from `EMETH_*` variables (and `DATABASE_URL`).
 * Every default points at the embedded single-machine stack under `.emeth/`; setting the
 * variable for a part points that part elsewhere and stops `emeth up` from starting it.
 * No other module reads the environment: pass this object (or a slice of it) down instead.
 */
export interface EmethConfig {
  /** Directory for all local state of the embedded stack. */
  home: string;
  logLevel: string;
  temporal: {
    /** host:port of the Temporal frontend. */
    address: string;
    namespace: string;
    /** True when `emeth up` runs the dev server itself (no EMETH_TEMPORAL_ADDRESS given). */
    embedded: boolean;
    uiPort: number;
    /** Explicit path to a `temporal` CLI binary. */
    bin?: string;
    /** SQLite file of the embedded dev server. */
    dbFile: string;
    /** Prefix of every EMETH task queue (see lib/task-queues). */
    taskQueuePrefix: string;
  };
  chain: {
    rpcUrl: string;
    embedded: boolean;
    anvilPort: number;
    chainId: number;
    /** Key that deploys contracts and mints on the embedded chain (anvil's first account by default). */
    deployerKey: string;
    /** anvil dumps and reloads its state here, so a restart keeps balances and contracts. */
    stateFile: string;
    deploymentFile: string;
  };
  database: {
    url: string;
    /** True when the L2 server hosts an embedded PGlite (no DATABASE_URL given). */
    embedded: boolean;
    pglitePort: number;
    dataDir: string;
  };
  /**
   * EMETH_KEY: the private key of a participant process (node, verifier, keyholder) or CLI command
   * when no `--key-file` is given. Never taken from argv (lib/participant-key).
   */
  participantKey?: string;
  l2: {
    /** Key of the L2 server: sends its transactions and applies penalties (verifier and L2-server roles on EmethCore). */
    key: string;
    /** EMETH_SIGNER_KEY: signs ticket batches (SIGNER_ROLE on EmethCore); never the L2 key. */
    signerKey: string;
    /** EMETH_STORAGE_KEY: EMETH Storage's sealing key (lib/envelope sealingKeysOf); never the L2 or signer key. */
    storageKey: string;
    /** Addresses whose verdicts the L2 accepts. */
    verifiers: string[];
    /** Blobs of EMETH Storage on local disk. */
    storageDir: string;
    /** How often the Signer batches tickets. */
    signerInterval: string;
    /** How often the reconciliation Schedule settles Jobs whose workflow closed before their row did. */
    reconcileInterval: string;
    /** Jobs younger than this are left to their workflow by the reconciler. */
    reconcileGraceMs: number;
    /** Inference deployments: ms per metered window (tickets, canaries, checks, replica health). */
    inferenceWindowMs: number;
    /** A node that has not picked up its SubJob within this many ms counts as gone. */
    nodePickupTimeoutMs: number;
    /** GPU rental: seconds per paid lease period (EMETH_LEASE_PERIOD_SECONDS, default 3600). */
    leasePeriodSeconds: number;
    /** A leased node that does not confirm a period within this many ms has left early (EMETH_LEASE_CONFIRM_TIMEOUT_MS). */
    leaseConfirmTimeoutMs: number;
    /** A running node that sends no heartbeat for this many ms counts as dead. */
    nodeHeartbeatTimeoutMs: number;
    /** EMETH_VERIFY_*: overrides of every program's verification policy (lib/verification-policy.ts). */
    verification: Partial<VerificationPolicy>;
  };
  gateway: {
    host: string;
    port: number;
    /** Public base URL of the gateway, used in links printed to users. */
    url: string;
  };
  /** Base URL of the Temporal UI, for links to workflows. */
  temporalUiUrl: string;
  /** Keys of the Temporal payload codec (lib/payload-codec; workers/shared/codec-keys loads them). */
  /**
   * The node edge: the only door participants (nodes, verifiers, keyholders) have to Temporal,
   * authenticated by their wallets. The raw frontend stays on loopback for the L2 and operators.
   */
  edge: {
    /** Where the L2 server binds it (EMETH_EDGE_HOST, EMETH_EDGE_PORT). */
    host: string;
    port: number;
    /** host:port participants connect to and name in their tokens (EMETH_NODE_ENDPOINT). */
    endpoint: string;
    /** PEM files (EMETH_EDGE_TLS_CERT, EMETH_EDGE_TLS_KEY): TLS on the edge when both are set. */
    tlsCert?: string;
    tlsKey?: string;
    /** Participant side: the CA that signed the edge's certificate (EMETH_EDGE_TLS_CA); set means TLS. */
    tlsCa?: string;
  };
  /**
   * The GPU Mining Program (contracts/EmethMining.sol). These only shape an EmethMining that
   * `emeth up` deploys: the epoch length is a constructor parameter, fixed at deployment, and the L2
   * reads it (and schedules its epoch poster) from the contract, never from here.
   */
  mining: {
    /**
     * EMETH_MINING_EPOCH_SECONDS: seconds per epoch. Default 3,600 (the paper's hour); 30 on the
     * embedded dev chain, so `npm run demo` sees an epoch close within a minute.
     */
    epochSeconds: number;
    /**
     * EMETH_MINING_FUND (EMETH, an integer): minted by the deployer into the reward pool at
     * deployment. Default 5,000,000 on the embedded dev chain (over 400 full 12,000-EMETH
     * epochs), 0 elsewhere: a real pool is funded by a transfer from the treasury, not a mint.
     */
    fund: bigint;
  };
  codec: {
    /** EMETH_CODEC_KEYS: `id1:base64key,id2:base64key`; unset on the embedded stack, which uses keyFile. */
    keys?: string;
    /** EMETH_CODEC_KEY_ID: the key new payloads are encrypted with (default: the first of keys). */
    currentKeyId?: string;
    /** Key file of the embedded stack, created with one random key on first use. */
    keyFile: string;
    /** EMETH_CODEC_TOKEN: an operator bearer token the gateway's /codec endpoint accepts besides API keys. */
    token?: string;
  };
}

type Env = Record<string, string | undefined>;

/** anvil's well-known first development account. Only ever used against a local dev chain. */
export const ANVIL_DEV_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

/**
 * anvil's ninth development account: the embedded stack's L2 key (ticket signer, penalties). It is
 * not the deployer, so the owner can mint while the L2 sends its own transactions.
 */
export const ANVIL_DEV_L2_KEY = '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97';

/** anvil's tenth development account: the embedded stack's ticket signer (SIGNER_ROLE). */
export const ANVIL_DEV_SIGNER_KEY = '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6';

/**
 * The embedded stack's storage key: a fixed development key of its own (no anvil account), so
 * that neither the L2 key nor the signer key can open stored blobs. Public, like the others.
 */
export const DEV_STORAGE_KEY = '0x' + '5e'.repeat(32);

/** Address of anvil's second development account, the embedded stack's verifier. */
export const ANVIL_DEV_VERIFIER = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

export const DEFAULT_PORTS = {
  temporal: 7233,
  temporalUi: 8233,
  anvil: 8545,
  pglite: 5433,
  gateway: 8080,
  edge: 7243,
} as const;

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError(name, `${name} must be a TCP port between 0 and 65535, got "${raw}"`);
  }
  return n;
}

/** A number in [min, max] from the environment, or undefined when unset. */
function numberIn(env: Env, name: string, min: number, max: number, what: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new ConfigError(name, `${name} must be ${what}, got "${raw}"`);
  return n;
}

function verificationOverrides(env: Env): Partial<VerificationPolicy> {
  const o: Partial<VerificationPolicy> = {};
  const probation = numberIn(
    env,
    'EMETH_VERIFY_PROBATION',
    0,
    1_000_000,
    'an integer ≥ 0 (verified SubJobs before a node is established)',
  );
  if (probation !== undefined) {
    if (!Number.isInteger(probation))
      throw new ConfigError(
        'EMETH_VERIFY_PROBATION',
        `EMETH_VERIFY_PROBATION must be an integer, got "${probation}"`,
      );
    o.probationSubJobs = probation;
  }
  const audit = numberIn(env, 'EMETH_VERIFY_AUDIT_RATE', 0.001, 1, 'a share in (0, 1], e.g. 0.1');
  if (audit !== undefined) o.auditRate = audit;
  const spot = numberIn(env, 'EMETH_VERIFY_SPOT_ROW_RATE', 0, 1, 'a share in [0, 1], e.g. 0.02');
  if (spot !== undefined) o.spotRowRate = spot;
  const margin = numberIn(env, 'EMETH_VERIFY_FINE_MARGIN', 1, 1000, 'a factor ≥ 1, e.g. 1.5');
  if (margin !== undefined) o.fineMargin = margin;
  const verdicts = numberIn(env, 'EMETH_VERIFY_VERDICT_AUDIT_RATE', 0.001, 1, 'a share in (0, 1], e.g. 0.1');
  if (verdicts !== undefined) o.verdictAuditRate = verdicts;
  const canaries = numberIn(env, 'EMETH_VERIFY_CANARY_RATE', 0, 1, 'a share in [0, 1], e.g. 0.05');
  if (canaries !== undefined) o.canaryRate = canaries;
  return o;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new ConfigError(name, `${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** A whole number of EMETH from the environment, as holon (10^18 per EMETH). */
function wholeEmeth(env: Env, name: string, fallbackEmeth: bigint): bigint {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackEmeth * 10n ** 18n;
  if (!/^[0-9]{1,30}$/.test(raw))
    throw new ConfigError(name, `${name} must be a whole number of EMETH (e.g. 100000), got "${raw}"`);
  return BigInt(raw) * 10n ** 18n;
}

function url(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  try {
    new URL(raw);
  } catch {
    throw new ConfigError(name, `${name} must be a URL, got "${raw}"`);
  }
  return raw;
}

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): EmethConfig {
  const home = path.resolve(cwd, env.EMETH_HOME || '.emeth');

  const temporalAddress = env.EMETH_TEMPORAL_ADDRESS || undefined;
  const temporalPort = port(env, 'EMETH_TEMPORAL_PORT', DEFAULT_PORTS.temporal);
  const uiPort = port(env, 'EMETH_TEMPORAL_UI_PORT', DEFAULT_PORTS.temporalUi);

  const rpcUrl = url(env, 'EMETH_CHAIN_RPC');
  const anvilPort = port(env, 'EMETH_ANVIL_PORT', DEFAULT_PORTS.anvil);
  const deployerKey = env.EMETH_DEPLOYER_KEY || ANVIL_DEV_KEY;
  if (!/^0x[0-9a-fA-F]{64}$/.test(deployerKey)) {
    throw new ConfigError(
      'EMETH_DEPLOYER_KEY',
      'EMETH_DEPLOYER_KEY must be a 32-byte hex private key starting with 0x',
    );
  }

  const databaseUrl = url(env, 'EMETH_DATABASE_URL') ?? url(env, 'DATABASE_URL');
  const pglitePort = port(env, 'EMETH_PGLITE_PORT', DEFAULT_PORTS.pglite);

  const l2Key = hexKey(env, 'EMETH_L2_KEY', ANVIL_DEV_L2_KEY);
  const signerKey = hexKey(env, 'EMETH_SIGNER_KEY', ANVIL_DEV_SIGNER_KEY);
  const storageKey = hexKey(env, 'EMETH_STORAGE_KEY', DEV_STORAGE_KEY);
  const participantKey = env.EMETH_KEY || undefined;
  const verifiers = (env.EMETH_VERIFIERS || ANVIL_DEV_VERIFIER)
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .filter(Boolean);
  for (const v of verifiers) {
    if (!/^0x[0-9a-f]{40}$/.test(v))
      throw new ConfigError(
        'EMETH_VERIFIERS',
        `EMETH_VERIFIERS must be comma-separated addresses; "${v}" is not one`,
      );
  }
  const signerInterval = interval(env, 'EMETH_SIGNER_INTERVAL', '10s');
  const reconcileInterval = interval(env, 'EMETH_RECONCILE_INTERVAL', '60s');

  const gatewayHost = env.EMETH_GATEWAY_HOST || '127.0.0.1';
  const edgeHost = env.EMETH_EDGE_HOST || '127.0.0.1';
  const edgePort = port(env, 'EMETH_EDGE_PORT', DEFAULT_PORTS.edge);
  if (Boolean(env.EMETH_EDGE_TLS_CERT) !== Boolean(env.EMETH_EDGE_TLS_KEY)) {
    throw new ConfigError(
      env.EMETH_EDGE_TLS_CERT ? 'EMETH_EDGE_TLS_KEY' : 'EMETH_EDGE_TLS_CERT',
      'EMETH_EDGE_TLS_CERT and EMETH_EDGE_TLS_KEY go together: set both PEM files for TLS on the node edge, or neither',
    );
  }
  const gatewayPort = port(env, 'EMETH_GATEWAY_PORT', DEFAULT_PORTS.gateway);

  return {
    home,
    logLevel: env.EMETH_LOG_LEVEL || 'info',
    temporal: {
      address: temporalAddress ?? `127.0.0.1:${temporalPort}`,
      namespace: env.EMETH_TEMPORAL_NAMESPACE || 'default',
      embedded: temporalAddress === undefined,
      uiPort,
      bin: env.EMETH_TEMPORAL_BIN || undefined,
      dbFile: path.join(home, 'temporal.sqlite'),
      taskQueuePrefix: env.EMETH_TASK_QUEUE_PREFIX || 'emeth',
    },
    chain: {
      rpcUrl: rpcUrl ?? `http://127.0.0.1:${anvilPort}`,
      embedded: rpcUrl === undefined,
      anvilPort,
      chainId: positiveInt(env, 'EMETH_CHAIN_ID', 31337),
      deployerKey,
      stateFile: path.join(home, 'anvil-state.json'),
      deploymentFile: path.resolve(cwd, env.EMETH_DEPLOYMENT_FILE || path.join(home, 'deployment.json')),
    },
    database: {
      url: databaseUrl ?? `postgresql://postgres:postgres@127.0.0.1:${pglitePort}/postgres`,
      embedded: databaseUrl === undefined,
      pglitePort,
      dataDir: path.join(home, 'pgdata'),
    },
    participantKey,
    l2: {
      key: l2Key,
      signerKey,
      storageKey,
      verifiers,
      storageDir: path.resolve(cwd, env.EMETH_STORAGE_DIR || path.join(home, 'storage')),
      signerInterval,
      reconcileInterval,
      reconcileGraceMs: positiveInt(env, 'EMETH_RECONCILE_GRACE_MS', 60_000),
      inferenceWindowMs: positiveInt(env, 'EMETH_INFERENCE_WINDOW_MS', 30_000),
      nodePickupTimeoutMs: positiveInt(env, 'EMETH_NODE_PICKUP_TIMEOUT_MS', 30_000),
      leasePeriodSeconds: positiveInt(env, 'EMETH_LEASE_PERIOD_SECONDS', 3600),
      leaseConfirmTimeoutMs: positiveInt(env, 'EMETH_LEASE_CONFIRM_TIMEOUT_MS', 120_000),
      nodeHeartbeatTimeoutMs: positiveInt(env, 'EMETH_NODE_HEARTBEAT_TIMEOUT_MS', 15_000),
      verification: verificationOverrides(env),
    },
    gateway: {
      host: gatewayHost,
      port: gatewayPort,
      url: env.EMETH_GATEWAY_URL || `http://${gatewayHost}:${gatewayPort}`,
    },
    temporalUiUrl: env.EMETH_TEMPORAL_UI_URL || `http://127.0.0.1:${uiPort}`,
    edge: {
      host: edgeHost,
      port: edgePort,
      endpoint: env.EMETH_NODE_ENDPOINT || `${edgeHost}:${edgePort}`,
      tlsCert: env.EMETH_EDGE_TLS_CERT || undefined,
      tlsKey: env.EMETH_EDGE_TLS_KEY || undefined,
      tlsCa: env.EMETH_EDGE_TLS_CA || undefined,
    },
    mining: {
      epochSeconds: positiveInt(env, 'EMETH_MINING_EPOCH_SECONDS', rpcUrl === undefined ? 30 : 3_600),
      fund: wholeEmeth(env, 'EMETH_MINING_FUND', rpcUrl === undefined ? 5_000_000n : 0n),
    },
    codec: {
      keys: env.EMETH_CODEC_KEYS || undefined,
      currentKeyId: env.EMETH_CODEC_KEY_ID || undefined,
      keyFile: path.join(home, 'codec-keys.json'),
      token: env.EMETH_CODEC_TOKEN || undefined,
    },
  };
}

function hexKey(env: Env, name: string, fallback: string): string {
  const key = env[name] || fallback;
  if (!/^0x[0-9a-fA-F]{64}$/.test(key))
    throw new ConfigError(name, `${name} must be a 32-byte hex private key starting with 0x`);
  return key;
}

/**
 * What the L2 server checks before it starts (loadConfig cannot: every process loads the config,
 * and only the L2 holds these keys):
 *  - no public anvil development key (lib/dev-accounts) unless the chain is the embedded anvil
 *    `emeth up` started: on any other chain, anyone could sign as the L2;
 *  - the L2, signer and storage keys are three different keys, so one leaked key is one role lost.
 */
export function assertL2Keys(config: EmethConfig, publicKeys: ReadonlySet<string>): void {
  const roles = [
    ['EMETH_L2_KEY', config.l2.key],
    ['EMETH_SIGNER_KEY', config.l2.signerKey],
    ['EMETH_STORAGE_KEY', config.l2.storageKey],
  ] as const;
  if (!config.chain.embedded) {
    for (const [name, key] of roles) {
      if (publicKeys.has(key.toLowerCase())) {
        throw new ConfigError(
          name,
          `${name} is a public development key (anvil's mnemonic or EMETH's dev default) and the chain at ${config.chain.rpcUrl} is not the embedded anvil emeth up starts: set ${name} to a key of your own`,
        );
      }
    }
  }
  for (let i = 0; i < roles.length; i++) {
    for (let j = i + 1; j < roles.length; j++) {
      if (roles[i]![1].toLowerCase() === roles[j]![1].toLowerCase()) {
        throw new ConfigError(
          roles[j]![0],
          `${roles[i]![0]} and ${roles[j]![0]} are the same key; the L2, signer and storage keys must be three different keys`,
        );
      }
    }
  }
}

/** A Temporal duration such as 10s, 500ms, 5m or 1h. */
function interval(env: Env, name: string, fallback: string): string {
  const value = env[name] || fallback;
  if (!/^\d+(ms|s|m|h)$/.test(value)) {
    throw new ConfigError(name, `${name} must look like 10s, 500ms, 5m or 1h, got "${value}"`);
  }
  return value;
}
