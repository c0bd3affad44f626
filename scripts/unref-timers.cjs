// Preloaded (`node -r`) into the Prisma CLI: its WASM schema engine and pg pool leave long ref'd
// timers behind, which keep a finished `migrate deploy` alive 10–60 s. Long timers are only ever
// timeouts there, so unref'ing them lets the process exit as soon as its work is done.
'use strict';
const origSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = function unrefLongTimeout(fn, ms, ...args) {
  const t = origSetTimeout(fn, ms, ...args);
  if (typeof ms === 'number' && ms >= 5000 && t && typeof t.unref === 'function') t.unref();
  return t;
};
