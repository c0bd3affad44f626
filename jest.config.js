// Tests run TypeScript through swc (fast, no type check: `npm run typecheck` does that).
// One Temporal dev server and one anvil are started for the whole run (test/support/global-setup);
// each suite gets its own database and, where it needs one, its own chain snapshot.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/support/environment.js',
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // hyparquet(-writer) ship only ES modules, which jest's CommonJS loader cannot require (Node can):
  // let swc compile them like our own files.
  transformIgnorePatterns: ['/node_modules/(?!hyparquet)'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The chaos suite restarts shared processes and takes minutes: `npm run chaos` (jest.chaos.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/chaos/'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 120_000,
  // Suites share one Temporal server and one anvil; two workers keep a 2-core machine busy without thrashing.
  maxWorkers: 2,
};
