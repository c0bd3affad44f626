// Finds the Temporal CLI, or builds the pinned version with Go into a cache outside the clone so
// every later clone reuses it. Plain CommonJS with node builtins only: it runs before `npm install`.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const TEMPORAL_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

function cacheBinDir(env = process.env) {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'emeth', 'bin');
}

function onPath(name, env = process.env) {
  for (const dir of (env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** EMETH_TEMPORAL_BIN, then `temporal` on PATH, then the cached build; undefined when none exists. */
function findTemporal(env = process.env) {
  if (env.EMETH_TEMPORAL_BIN) {
    if (!fs.existsSync(env.EMETH_TEMPORAL_BIN)) {
      throw new Error(`EMETH_TEMPORAL_BIN points at ${env.EMETH_TEMPORAL_BIN}, which does not exist`);
    }
    return env.EMETH_TEMPORAL_BIN;
  }
  const fromPath = onPath('temporal', env);
  if (fromPath) return fromPath;
  const cached = path.join(cacheBinDir(env), 'temporal');
  return fs.existsSync(cached) ? cached : undefined;
}

/** Builds the pinned Temporal CLI with `go install`; throws one sentence when Go is missing. */
function installTemporal(env = process.env, log = (m) => process.stderr.write(m + '\n')) {
  const go =
    onPath('go', env) || (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) {
    throw new Error(
      'The Temporal CLI was not found and Go is not installed to build it: install the Temporal CLI ' +
        '(https://docs.temporal.io/cli) and put `temporal` on PATH or set EMETH_TEMPORAL_BIN, or install Go and run this again.',
    );
  }
  const binDir = cacheBinDir(env);
  fs.mkdirSync(binDir, { recursive: true });
  log(
    `emeth: building the Temporal CLI (${TEMPORAL_MODULE}) into ${binDir}; first time only, a few minutes...`,
  );
  const started = Date.now();
  const res = spawnSync(go, ['install', TEMPORAL_MODULE], {
    env: { ...env, GOBIN: binDir, CGO_ENABLED: env.CGO_ENABLED || '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (res.status !== 0)
    throw new Error(`go install ${TEMPORAL_MODULE} failed (exit ${res.status}); see the output above`);
  log(`emeth: Temporal CLI built in ${Math.round((Date.now() - started) / 1000)} s`);
  return path.join(binDir, 'temporal');
}

function ensureTemporal(env = process.env, log) {
  return findTemporal(env) || installTemporal(env, log);
}

module.exports = { TEMPORAL_MODULE, cacheBinDir, findTemporal, installTemporal, ensureTemporal };
