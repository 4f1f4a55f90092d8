/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Suites that need a real Keystone + Heat run under `npm run test:real-heat`, which provides one.
  // The browser suite runs under `scripts/test-browser.sh`, which installs Chromium first.
  testPathIgnorePatterns: [
    '/node_modules/',
    ...(process.env.HEAT_CONTRACT_AUTH_URL ? [] : ['/test/e2e/real-heat']),
    ...(process.env.LABS_BROWSER_TEST ? [] : ['/test/browser/']),
  ],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60000,
  // Two cores: suites that each run a Temporal worker contend; two at a time keeps them honest.
  maxWorkers: 2,
};
