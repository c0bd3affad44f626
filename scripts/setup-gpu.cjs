#!/usr/bin/env node
/**
 * Installs onnxruntime-node's CUDA execution provider on a GPU host:   node scripts/setup-gpu.cjs
 *
 * Why this exists: package.json keeps `"allowScripts": {"onnxruntime-node": false}` so that
 * `npm install` works offline (the package's postinstall would fetch the CUDA provider from NuGet
 * and fail without network). A GPU host with network access runs this once instead: it re-runs
 * the package's own script/install.js asking for the CUDA 12 build, which downloads
 * Microsoft.ML.OnnxRuntime.Gpu.Linux (the version matching onnxruntime-node) and copies
 * libonnxruntime_providers_{cuda,shared,tensorrt}.so next to the binding. The offline default is
 * untouched; re-run after any reinstall or upgrade of onnxruntime-node (npm replaces the folder).
 *
 * Options:  --check    only report what is installed
 *           --force    download even if the provider files are already there
 *           --dry-run  print what would run, run nothing
 * Proxies: the package's script honours GLOBAL_AGENT_HTTPS_PROXY (global-agent).
 * Host needs: an NVIDIA driver, CUDA 12.x and cuDNN 9 runtime libraries on the loader path.
 */
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const PROVIDER_FILES = [
  'libonnxruntime_providers_cuda.so',
  'libonnxruntime_providers_shared.so',
  'libonnxruntime_providers_tensorrt.so',
];

function main() {
  const args = new Set(process.argv.slice(2));
  for (const a of args) {
    if (!['--check', '--force', '--dry-run', '--help', '-h'].includes(a)) {
      fail(`unknown option ${a}; usage: node scripts/setup-gpu.cjs [--check] [--force] [--dry-run]`);
    }
  }
  if (args.has('--help') || args.has('-h')) {
    console.log('usage: node scripts/setup-gpu.cjs [--check] [--force] [--dry-run]');
    return;
  }

  let pkgDir;
  try {
    pkgDir = path.dirname(
      require.resolve('onnxruntime-node/package.json', { paths: [path.join(__dirname, '..')] }),
    );
  } catch {
    fail('onnxruntime-node is not installed here; run `npm install` in the repository first');
  }
  const version = require(path.join(pkgDir, 'package.json')).version;
  const platform = `${process.platform}/${process.arch}`;
  const binDir = path.join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
  console.log(`onnxruntime-node ${version} at ${pkgDir} (${platform})`);

  if (platform !== 'linux/x64') {
    // install-metadata.js lists the CUDA manifest for linux/x64 only; elsewhere there is nothing to fetch.
    console.log(`the CUDA provider download exists for linux/x64 only; nothing to do on ${platform}`);
    report(pkgDir, binDir);
    return;
  }

  const missing = PROVIDER_FILES.filter((f) => !fs.existsSync(path.join(binDir, f)));
  if (args.has('--check')) {
    report(pkgDir, binDir);
    process.exitCode = missing.length === 0 ? 0 : 1;
    return;
  }
  if (missing.length === 0 && !args.has('--force')) {
    console.log('the CUDA provider is already installed (use --force to download it again)');
    report(pkgDir, binDir);
    return;
  }

  const script = path.join(pkgDir, 'script', 'install.js');
  // ONNXRUNTIME_NODE_INSTALL=cuda12 makes install.js fetch exactly the CUDA 12 manifest, and wins
  // over an npm config of `onnxruntime-node-install=skip`. The npm_* variables are dropped so the
  // script never mistakes this for a local development install and exits early.
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'cuda12' };
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  const cmd = `ONNXRUNTIME_NODE_INSTALL=cuda12 node ${path.relative(process.cwd(), script)}  (cwd ${pkgDir})`;
  if (args.has('--dry-run')) {
    console.log(`would run: ${cmd}`);
    console.log(`it would write: ${PROVIDER_FILES.map((f) => path.join(binDir, f)).join(', ')}`);
    return;
  }

  console.log(`running: ${cmd}`);
  console.log(`missing before: ${missing.join(', ') || 'none'}`);
  const res = spawnSync(process.execPath, [script], { cwd: pkgDir, env, stdio: 'inherit' });
  if (res.status !== 0) {
    fail(
      `onnxruntime-node's install script exited with ${res.status ?? res.signal}. It downloads from NuGet: ` +
        'check network access (or set GLOBAL_AGENT_HTTPS_PROXY), then run this again. Nodes keep working on CPU meanwhile.',
    );
  }
  const still = PROVIDER_FILES.filter((f) => !fs.existsSync(path.join(binDir, f)));
  if (still.length > 0)
    fail(`the install script finished but ${still.join(', ')} is still missing in ${binDir}`);
  console.log('installed the CUDA provider:');
  report(pkgDir, binDir);
}

function report(pkgDir, binDir) {
  for (const f of PROVIDER_FILES) {
    const p = path.join(binDir, f);
    console.log(`  ${fs.existsSync(p) ? 'present' : 'missing'}  ${p}`);
  }
  const probe = spawnSync(
    process.execPath,
    ['-e', `console.log(JSON.stringify(require(${JSON.stringify(pkgDir)}).listSupportedBackends()))`],
    { encoding: 'utf8' },
  );
  console.log(`  listSupportedBackends(): ${(probe.stdout || probe.stderr).trim()}`);
  console.log(
    [
      'how to check:',
      `  node -e "console.log(require('onnxruntime-node').listSupportedBackends())"   # lists cuda (bundled: false is normal)`,
      '  a node worker logs "onnxruntime session on cuda: CUDA provider found at ..." when it uses the GPU;',
      '  "... failed to load (...); using CPU" means the driver, CUDA 12 or cuDNN 9 libraries are missing.',
    ].join('\n'),
  );
}

function fail(message) {
  console.error(`setup-gpu: ${message}`);
  process.exit(1);
}

main();
