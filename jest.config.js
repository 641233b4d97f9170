/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2023' } }] },
  // End-to-end tests spawn the CLI and work on real files; give them room on a shared 2-core machine.
  testTimeout: 120000,
  // One temp directory per run (TMPDIR), removed at the end, instead of one per test left in /tmp.
  globalSetup: '<rootDir>/test/jest-global-setup.js',
  globalTeardown: '<rootDir>/test/jest-global-teardown.js',
};
