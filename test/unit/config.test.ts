import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_CONFIG,
  formatDuration,
  labNamed,
  loadConfig,
  parseConfig,
  parseDuration,
  readEnvironment,
} from '../../src/config';
import { configProblemsOf } from '../support/config-problems';

const env = { OS_PASSWORD_A: 'secret-a', LABS_EMULATOR_PASSWORD: 'pw' };

const good = `
providers:
  - name: cloud-a
    auth: { authUrl: "https://keystone.example:5000/v3", username: labs, passwordEnv: OS_PASSWORD_A, projectName: labs, userDomainName: Default, projectDomainName: Default }
    region: RegionOne
    capacity: 200
labs:
  linux-basics:
    template: test/secret-lab.yaml
    parameters: { create_wait_secs: 1 }
    providers: [cloud-a, { name: cloud-a, parameters: { password_length: 12 } }]
    connection: { protocol: ssh, hostOutput: public_ip, port: 22, username: training }
    secretOutputs: [password]
    launchTimeout: 10m
    idleTimeout: 15m
    deleteAfter: 14d
    maxLifetime: 90d
`;

const problemsOf = (text: string, lookup: Record<string, string> = env) =>
  configProblemsOf(text, lookup);

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['14d', 1_209_600_000],
    ['2h', 7_200_000],
    ['250ms', 250],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it.each(['15', 'm', '1.5h', '-5m', '15 minutes', '1h30m', ''])('refuses %p', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('configuration', () => {
  it('loads a good file into typed, resolved values', () => {
    const config = parseConfig(good, 'labs.yaml', env);
    const lab = config.labs['linux-basics']!;
    expect(lab.idleTimeout).toBe(15 * 60_000);
    expect(lab.deleteAfter).toBe(14 * 86_400_000);
    expect(lab.maxLifetime).toBe(90 * 86_400_000);
    expect(lab.providers).toEqual([
      { name: 'cloud-a', parameters: {} },
      { name: 'cloud-a', parameters: { password_length: 12 } },
    ]);
    expect(config.providers[0]!.auth).toMatchObject({
      kind: 'password',
      password: 'secret-a',
      interface: 'public',
    });
    expect(config.api).toEqual({
      host: '127.0.0.1',
      port: 8080,
      heartbeatFlush: 5000,
      corsOrigins: [],
      rateLimit: {
        perToken: { perSecond: 500, burst: 1000 },
        perLab: { perSecond: 5, burst: 50 },
        perLearner: { perSecond: 5, burst: 50 },
      },
      metricsRefresh: 15_000,
    });
    expect(config.temporal).toBeUndefined();
    // The worker's workflow cache is bounded by default: RSS stays flat with thousands of labs.
    expect(config.worker).toEqual({ maxCachedWorkflows: 1000 });
  });

  it('takes a worker cache size and refuses one below 1, naming the field', () => {
    expect(
      parseConfig(`worker: { maxCachedWorkflows: 250 }\n${good}`, 'labs.yaml', env).worker,
    ).toEqual({ maxCachedWorkflows: 250 });
    expect(problemsOf(`worker: { maxCachedWorkflows: 0 }\n${good}`)).toEqual([
      expect.objectContaining({ path: 'worker.maxCachedWorkflows', line: 1 }),
    ]);
  });

  it('takes API rate limits and the metrics refresh, with defaults, and names a bad field', () => {
    const defaults = parseConfig(good, 'labs.yaml', env).api;
    expect(defaults.rateLimit).toEqual({
      perToken: { perSecond: 500, burst: 1000 },
      perLab: { perSecond: 5, burst: 50 },
      perLearner: { perSecond: 5, burst: 50 },
    });
    expect(defaults.metricsRefresh).toBe(15_000);
    const tuned = parseConfig(
      `api: { rateLimit: { perLab: { perSecond: 2, burst: 10 } }, metricsRefresh: 1m }\n${good}`,
      'labs.yaml',
      env,
    ).api;
    expect(tuned.rateLimit.perLab).toEqual({ perSecond: 2, burst: 10 });
    expect(tuned.rateLimit.perToken).toEqual({ perSecond: 500, burst: 1000 });
    expect(tuned.metricsRefresh).toBe(60_000);
    expect(
      problemsOf(`api: { rateLimit: { perToken: { perSecond: 0, burst: 1 } } }\n${good}`),
    ).toEqual([expect.objectContaining({ path: 'api.rateLimit.perToken.perSecond', line: 1 })]);
    expect(problemsOf(`api: { metricsRefresh: often }\n${good}`)).toEqual([
      expect.objectContaining({ path: 'api.metricsRefresh', line: 1 }),
    ]);
  });

  it('finds labs by their own names only, never by a name every object has', () => {
    const config = parseConfig(good.replace('linux-basics:', 'constructor:'), 'labs.yaml', env);
    expect(labNamed(config, 'constructor')?.template).toBe('test/secret-lab.yaml');
    for (const name of ['__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'linux-basics'])
      expect(labNamed(config, name)).toBeUndefined();
  });

  it('loads the example configuration that npm start uses', () => {
    const config = loadConfig(DEFAULT_CONFIG, env);
    expect(Object.keys(config.labs)).toContain('demo');
    expect(config.emulator?.port).toBe(5050);
    expect(config.demoPage).toEqual({ port: 8090, lab: 'shell' });
  });

  it('refuses a demo page of a lab the file does not define', () => {
    const problems = problemsOf(`${good}\ndemoPage: { lab: linux }\n`);
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'demoPage.lab',
        message: 'unknown lab "linux" (defined: linux-basics)',
      }),
    ]);
  });

  it("takes a lab's checks, and reports a missing script, a duplicate name and a bad timeout with their lines", () => {
    const checks = (lines: string[]) =>
      good.replace(
        '    maxLifetime: 90d\n',
        `    maxLifetime: 90d\n    checks:\n${lines.join('\n')}\n`,
      );
    const config = parseConfig(
      checks(['      - { name: notes, title: Notes, script: shell/notes-file.sh }']),
      'labs.yaml',
      env,
    );
    expect(config.labs['linux-basics']?.checks).toEqual([
      { name: 'notes', title: 'Notes', script: 'shell/notes-file.sh', timeout: 30_000, weight: 1 },
    ]);
    const problems = problemsOf(
      checks([
        '      - { name: notes, title: Notes, script: shell/notes-file.sh }',
        '      - { name: notes, title: Again, script: shell/nginx.sh }',
        '      - { name: slow, title: Slow, script: shell/project-dir.sh, timeout: 1h }',
      ]),
    );
    expect(problems.map(({ path, line, message }) => ({ path, line, message }))).toEqual([
      {
        path: 'labs.linux-basics.checks.2.timeout',
        line: 21,
        message: 'must be at most 10m',
      },
    ]);
    // Shape errors come first; the file checks run on a file whose shape is right.
    const files = problemsOf(
      checks([
        '      - { name: notes, title: Notes, script: shell/notes-file.sh }',
        '      - { name: notes, title: Again, script: shell/nginx.sh }',
      ]),
    );
    expect(files.map(({ path, line, message }) => ({ path, line, message }))).toEqual([
      {
        path: 'labs.linux-basics.checks.1.name',
        line: 20,
        message: 'check "notes" is defined twice',
      },
      {
        path: 'labs.linux-basics.checks.1.script',
        line: 20,
        message: 'script shell/nginx.sh not found under checks/',
      },
    ]);
  });

  it('takes webhooks, warnings and hooks with defaults that fit the lab, and reports each mistake where it is', () => {
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const old = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
    const config = parseConfig(
      `${good}webhooks:
  - { name: course, url: "https://hooks.example.org/labs", secretEnv: HOOK_SECRET, events: ["*"] }
  - { name: local, url: "http://127.0.0.1:9000/x", secretEnv: HOOK_SECRET, events: [lab.deleted], labs: [linux-basics] }
`,
      'labs.yaml',
      { ...env, HOOK_SECRET: `${secret} ${old}` },
    );
    expect(config.webhooks[0]).toMatchObject({ secrets: [secret, old], labs: null });
    expect(config.webhooks[0]!.events).toContain('lab.suspend_warning');
    expect(config.webhooks[1]).toMatchObject({ events: ['lab.deleted'], labs: ['linux-basics'] });
    // 2 minutes before a suspend and a day before a deletion, when the lab's periods allow.
    expect(config.labs['linux-basics']!.notifications).toEqual({
      suspendWarning: 120_000,
      deleteWarning: 86_400_000,
    });
    expect(config.webhookDelivery.retrySchedule.map(formatDuration)).toEqual([
      '5s',
      '5m',
      '30m',
      '2h',
      '5h',
      '10h',
      '14h',
      '20h',
      '1d',
    ]);

    const problems = problemsOf(
      `${good.replace(
        '    maxLifetime: 90d\n',
        '    maxLifetime: 90d\n    notifications: { suspendWarning: 15m }\n    hooks: { preSuspend: { script: nowhere.sh } }\n',
      )}webhooks:
  - { name: course, url: "http://hooks.example.org/labs", secretEnv: HOOK_SECRET, events: [lab.ready] }
  - { name: other, url: "https://x.example.org", secretEnv: NOT_SET, events: [lab.ready], labs: [nope] }
  - { name: bad, url: "https://y.example.org", secretEnv: BAD_SECRET, events: [lab.ready] }
`,
      { ...env, HOOK_SECRET: secret, BAD_SECRET: 'not-base64!' },
    );
    expect(problems.map(({ path, message }) => ({ path, message }))).toEqual([
      {
        path: 'labs.linux-basics.hooks.preSuspend.script',
        message: 'script nowhere.sh not found under hooks/',
      },
      {
        path: 'labs.linux-basics.notifications.suspendWarning',
        message: "must be shorter than the lab's idleTimeout (15m)",
      },
      {
        path: 'webhooks.0.url',
        message: expect.stringMatching(/^must be https .*hooks\.example\.org is neither/),
      },
      { path: 'webhooks.1.labs.0', message: 'unknown lab "nope" (defined: linux-basics)' },
      { path: 'webhooks.1.secretEnv', message: 'environment variable NOT_SET is not set' },
      {
        path: 'webhooks.2.secretEnv',
        message: 'secret 1 in BAD_SECRET is not a Standard Webhooks secret (whsec_ and base64)',
      },
    ]);
    // An internal host may take plain http.
    expect(() =>
      parseConfig(
        `${good}webhookDelivery: { internalHosts: [hooks.internal] }
webhooks:
  - { name: course, url: "http://hooks.internal/labs", secretEnv: HOOK_SECRET, events: [lab.ready] }
`,
        'labs.yaml',
        { ...env, HOOK_SECRET: secret },
      ),
    ).not.toThrow();
  });

  it('takes usage limits and lab costs with defaults, and names each mistake', () => {
    const withCost = good.replace(
      '    maxLifetime: 90d\n',
      '    maxLifetime: 90d\n    cost: { runningPerHour: 0.12 }\n',
    );
    const config = parseConfig(
      `usageLimits:\n  - { scope: course, courses: [c1], limit: 20h, window: 30d, breach: suspend }\n${withCost}`,
      'labs.yaml',
      env,
    );
    expect(config.usageLimits).toEqual([
      {
        scope: 'course',
        courses: ['c1'],
        labs: null,
        limit: 72_000_000,
        window: '30d',
        breach: 'suspend',
        warnAt: 0.8,
      },
    ]);
    expect(config.labs['linux-basics']!.cost).toEqual({
      runningPerHour: 0.12,
      suspendedPerHour: 0,
      currency: 'USD',
    });
    expect(parseConfig(good, 'labs.yaml', env).usageLimits).toEqual([]);
    const problems = problemsOf(
      `usageLimits:\n  - { scope: room, limit: 20h, breach: warn }\n  - { scope: lab, labs: [nope], limit: 0s, window: 1w, breach: stop, warnAt: 2 }\n${good}`,
    );
    expect(problems.map((p) => [p.path, p.line])).toEqual(
      expect.arrayContaining([
        ['usageLimits.0.scope', 2],
        ['usageLimits.1.limit', 3],
        ['usageLimits.1.window', 3],
        ['usageLimits.1.breach', 3],
        ['usageLimits.1.warnAt', 3],
      ]),
    );
    expect(problems.find((p) => p.path === 'usageLimits.1.window')!.message).toBe(
      'must be "course" or a number of days such as "30d"',
    );
    expect(
      problemsOf(
        `usageLimits:\n  - { scope: lab, labs: [nope], limit: 1h, breach: warn }\n${good}`,
      ),
    ).toEqual([
      expect.objectContaining({
        path: 'usageLimits.0.labs.0',
        message: 'unknown lab "nope" (defined: linux-basics)',
      }),
    ]);
  });

  it('reports three different mistakes at once, each with its field path and line', () => {
    const bad = good
      .replace('idleTimeout: 15m', 'idleTimeout: 15 minutes')
      .replace('capacity: 200', 'capacity: lots')
      .replace('secretOutputs: [password]', 'secretOutputs: [password]\n    colour: blue');
    const problems = problemsOf(bad);
    expect(problems.map((p) => p.path).sort()).toEqual([
      'labs.linux-basics',
      'labs.linux-basics.idleTimeout',
      'providers.0.capacity',
    ]);
    const idle = problems.find((p) => p.path === 'labs.linux-basics.idleTimeout')!;
    expect(idle).toMatchObject({ file: 'labs.yaml', line: 16 });
    expect(idle.message).toMatch(/"15 minutes" is not a duration/);
    expect(problems.find((p) => p.path === 'labs.linux-basics')).toMatchObject({
      message: 'unknown field colour',
      line: 14,
    });
    expect(problems.find((p) => p.path === 'providers.0.capacity')!.message).toMatch(
      /expected number, received string/,
    );
  });

  it('names the missing environment variable, the unknown provider and the missing template', () => {
    const bad = good
      .replace('providers: [cloud-a,', 'providers: [cloud-z,')
      .replace('test/secret-lab.yaml', 'nope.yaml');
    const problems = problemsOf(bad, {});
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          path: 'providers.0.auth.passwordEnv',
          message: 'environment variable OS_PASSWORD_A is not set',
        }),
        expect.objectContaining({
          path: 'labs.linux-basics.providers.0',
          message: expect.stringMatching(/unknown provider "cloud-z"/),
        }),
        expect.objectContaining({
          path: 'labs.linux-basics.template',
          message: expect.stringMatching(/nope.yaml not found/),
        }),
      ]),
    );
  });

  it('refuses a connection without a host and a required field left out', () => {
    const bad = good.replace('hostOutput: public_ip, ', '').replace('    region: RegionOne\n', '');
    const problems = problemsOf(bad);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'providers.0.region', message: 'is required' }),
        expect.objectContaining({
          path: 'labs.linux-basics.connection',
          message: 'give exactly one of host or hostOutput',
        }),
      ]),
    );
  });

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf('providers:\n  - name: a\n   bad: [');
    expect(problems[0]).toMatchObject({ file: 'labs.yaml', path: '' });
    expect(problems[0]!.message).toMatch(/not valid YAML/);
    expect(problems[0]!.line).toBeGreaterThan(0);
  });

  it('reports a file that cannot be read', () => {
    expect(() => loadConfig('/nonexistent/labs.yaml', env)).toThrow(/cannot read the file/);
  });

  it('resolves a provider from clouds.yaml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clouds-'));
    const clouds = join(dir, 'clouds.yaml');
    writeFileSync(
      clouds,
      'clouds:\n  mycloud:\n    auth: { auth_url: "http://keystone:5000/v3", application_credential_id: abc, application_credential_secret: s3 }\n',
    );
    const text = good.replace(/auth: \{ authUrl[^\n]*\}/, 'auth: { cloud: mycloud }');
    const config = parseConfig(text, 'labs.yaml', { OS_CLIENT_CONFIG_FILE: clouds });
    expect(config.providers[0]!.auth).toEqual({
      kind: 'applicationCredential',
      authUrl: 'http://keystone:5000/v3',
      applicationCredentialId: 'abc',
      secret: 's3',
      interface: 'public',
    });
  });
});

describe('environment', () => {
  const key = Buffer.alloc(32, 7).toString('base64');

  it('reads tokens and rotation keys (first encrypts, all decrypt)', () => {
    const e = readEnvironment({
      LABS_SERVICE_TOKENS: 'a, b',
      LABS_ADMIN_TOKENS: 'c',
      LABS_SECRETS_KEY: `k2:${key},k1:${key}`,
    });
    expect(e.serviceTokens).toEqual(['a', 'b']);
    expect(e.adminTokens).toEqual(['c']);
    expect(e.secretsKeys.map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(e.configPath).toBe(DEFAULT_CONFIG);
  });

  it('refuses a secrets key that is not 32 bytes', () => {
    expect(() => readEnvironment({ LABS_SECRETS_KEY: 'k1:c2hvcnQ=' })).toThrow(
      /LABS_SECRETS_KEY\[0\]: key "k1" must be 32 bytes/,
    );
  });
});
