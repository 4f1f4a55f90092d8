const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };

// Suites in test/unit/ that open a real store, so they need the servers global-setup starts.
const UNIT_SUITES_NEEDING_SERVERS = ['store', 'store-deadlines', 'retention', 'secrets-binding'];
const needingServers = UNIT_SUITES_NEEDING_SERVERS.join('|');

/** @type {import('jest').Config} */
module.exports = {
  // Two cores: suites that each run a Temporal worker contend; two at a time keeps them honest.
  maxWorkers: 2,
  // Jest reads the timeout from the top level only: it is ignored inside a project.
  testTimeout: 60000,
  projects: [
    {
      // Pure suites: no servers, no global setup (`npm run test:unit`).
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', `/test/unit/(${needingServers})\\.test\\.ts$`],
    },
    {
      // Everything else, against the Temporal and MongoDB-compatible servers global-setup starts.
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      // Suites that need a real Keystone + Heat run under `npm run test:real-heat`, which provides one.
      // The browser suite runs under `scripts/test-browser.sh`, which installs Chromium first.
      testPathIgnorePatterns: [
        '/node_modules/',
        `/test/unit/(?!(${needingServers})\\.test\\.ts$)`,
        ...(process.env.HEAT_CONTRACT_AUTH_URL ? [] : ['/test/e2e/real-heat']),
        ...(process.env.LABS_BROWSER_TEST ? [] : ['/test/browser/']),
      ],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
