/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Suites that need a real Keystone + Heat run under `npm run test:real-heat`, which provides one.
  testPathIgnorePatterns: process.env.HEAT_CONTRACT_AUTH_URL
    ? ['/node_modules/']
    : ['/node_modules/', '/test/e2e/real-heat'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60000,
  // Two cores: suites that each run a Temporal worker contend; two at a time keeps them honest.
  maxWorkers: 2,
};
