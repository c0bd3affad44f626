#!/usr/bin/env node
// `emeth` on PATH (npm link / npx emeth): runs the TypeScript CLI through tsx's require hook.
require('tsx/cjs');
require('./main.ts');
