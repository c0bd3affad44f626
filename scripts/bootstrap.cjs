#!/usr/bin/env node
// First-run setup shared by `npm run demo` and `npm test` (their `pre` scripts): installs the npm
// dependencies, generates the Prisma client, compiles the contracts (and their TypeChain bindings)
// and obtains the Temporal CLI.
// Each step is skipped when its inputs have not changed since it last ran, so later runs cost ~0.2 s.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { ensureTemporal } = require('./temporal-cli.cjs');

const root = path.resolve(__dirname, '..');
const stampDir = path.join(root, 'node_modules', '.cache', 'emeth');
const log = (m) => process.stderr.write(`emeth: ${m}\n`);

function digest(files) {
  const h = crypto.createHash('sha256');
  for (const f of files) {
    const p = path.join(root, f);
    h.update(f);
    if (fs.existsSync(p)) h.update(fs.readFileSync(p));
  }
  return h.digest('hex');
}

function listFiles(dir, ext) {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  const out = [];
  for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'build' && e.name !== 'generated') out.push(...listFiles(rel, ext));
    } else if (e.name.endsWith(ext)) out.push(rel);
  }
  return out.sort();
}

/** Runs `fn` when the digest of `inputs` differs from the one recorded after its last success. */
function step(name, inputs, outputExists, fn) {
  const stamp = path.join(stampDir, `${name}.sha256`);
  const want = digest(inputs);
  const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8') : '';
  if (have === want && outputExists()) return;
  const t0 = Date.now();
  fn();
  fs.mkdirSync(stampDir, { recursive: true });
  fs.writeFileSync(stamp, want);
  log(`${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function run(cmd, args, what) {
  const res = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (res.status !== 0) {
    log(`${what} failed (exit ${res.status}); the output above says why`);
    process.exit(res.status || 1);
  }
}

// npm install (not `npm ci`: the lockfile cannot list other platforms' optional packages offline).
// Its stamp lives outside node_modules too, so a deleted node_modules is noticed.
const installed = () => fs.existsSync(path.join(root, 'node_modules', '.bin', 'tsx'));
step('npm-install', ['package.json', 'package-lock.json'], installed, () => {
  log('installing npm dependencies...');
  run('npm', ['install', '--no-audit', '--no-fund'], 'npm install');
});

step(
  'prisma-generate',
  ['prisma/schema.prisma'],
  () => fs.existsSync(path.join(root, 'prisma', 'generated')),
  () => {
    log('generating the Prisma client...');
    run('sh', ['scripts/prisma.sh', 'generate'], 'prisma generate');
  },
);

step(
  'contracts',
  [...listFiles('contracts', '.sol'), 'contracts/compile.ts', 'package-lock.json'],
  () =>
    fs.existsSync(path.join(root, 'contracts', 'build')) &&
    fs.existsSync(path.join(root, 'contracts', 'types', 'index.ts')),
  () => {
    log('compiling contracts...');
    run(path.join(root, 'node_modules', '.bin', 'tsx'), ['contracts/compile.ts'], 'contract compilation');
  },
);

try {
  ensureTemporal(process.env, log);
} catch (e) {
  log(e.message);
  process.exit(1);
}
