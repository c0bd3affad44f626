// `npm run chaos`: the chaos suite (test/chaos), kept out of `npm test` for its length. Faults are
// injected into real processes (the L2 server, Temporal, anvil, PostgreSQL), so suites run one at a
// time: a restarted database or a frozen chain must not hit another suite's Job.
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: ['<rootDir>/test/chaos/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/test/chaos/global-setup.ts',
  testTimeout: 300_000,
  maxWorkers: 1,
};
