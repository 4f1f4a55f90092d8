import type { RunningEmulator } from '../../src/emulator';
import {
  KeystoneAuth,
  HeatBadRequestError,
  HeatUnauthorizedError,
  HeatUnavailableError,
} from '../../src/openstack';
import { createAxios, DEFAULT_RETRY } from '../../src/openstack/http';
import { authRequestBody, tokensUrl } from '../../src/openstack/keystone';
import { clientFor, emulatorProvider, startFastEmulator } from './support';

describe('Keystone auth', () => {
  let emulator: RunningEmulator;

  beforeAll(async () => {
    emulator = await startFastEmulator({
      users: [{ name: 'ops', password: 'right', project: 'labs' }],
      applicationCredentials: [{ id: 'appcred-1', secret: 's3cret', project: 'labs' }],
      tokenTtlMs: 60 * 60_000,
    });
  });
  afterAll(() => emulator.close());

  const keystone = (
    auth: ReturnType<typeof emulatorProvider>['auth'],
    now?: () => number,
    region = 'RegionOne',
  ): KeystoneAuth =>
    new KeystoneAuth(emulatorProvider(emulator, { auth, region }), {
      http: createAxios(),
      timeoutMs: 2_000,
      retry: { ...DEFAULT_RETRY, baseDelayMs: 5 },
      now,
    });

  const password = (pw: string) =>
    ({
      kind: 'password',
      authUrl: emulator.authUrl,
      user: { name: 'ops', domainName: 'Default' },
      password: pw,
      project: { name: 'labs', domainName: 'Default' },
      interface: 'public',
    }) as const;

  it('builds the request bodies Keystone expects, scoped only for passwords', () => {
    expect(tokensUrl('https://k:5000/v3/')).toBe('https://k:5000/v3/auth/tokens');
    expect(tokensUrl('https://k:5000')).toBe('https://k:5000/v3/auth/tokens');
    expect(
      authRequestBody({ ...password('x'), user: { id: 'u1' }, project: { id: 'p1' } }),
    ).toEqual({
      auth: {
        identity: { methods: ['password'], password: { user: { id: 'u1', password: 'x' } } },
        scope: { project: { id: 'p1' } },
      },
    });
    expect(
      authRequestBody({
        kind: 'applicationCredential',
        authUrl: 'x',
        applicationCredentialId: 'a',
        secret: 'b',
        interface: 'public',
      }),
    ).toEqual({
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: 'a', secret: 'b' },
        },
      },
    });
  });

  it('password auth gives a project-scoped token and the orchestration endpoint of the region', async () => {
    const session = await keystone(password('right')).session();
    expect(session.token).toMatch(/^gAAAA/);
    expect(session.projectId).toMatch(/^[0-9a-f]{32}$/);
    expect(session.orchestrationUrl).toBe(`${emulator.url}/v1/${session.projectId}`);
  });

  it('application credentials authenticate too', async () => {
    const session = await keystone({
      kind: 'applicationCredential',
      authUrl: emulator.authUrl,
      applicationCredentialId: 'appcred-1',
      secret: 's3cret',
      interface: 'internal',
    }).session();
    expect(session.orchestrationUrl).toContain('/v1/');
  });

  it('a wrong password is a HeatUnauthorizedError, not retried, without the password in it', async () => {
    await emulator.admin.resetRequestCounts();
    const error = await keystone(password('wrong'))
      .session()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatUnauthorizedError);
    expect(String((error as Error).message)).not.toContain('wrong');
    expect((await emulator.admin.requestCounts()).byRoute['keystone.tokens']).toBe(1);
  });

  it('a region without Heat is a clear error', async () => {
    const error = await keystone(password('right'), undefined, 'Nowhere')
      .session()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatBadRequestError);
    expect((error as Error).message).toContain('no orchestration endpoint for region Nowhere');
  });

  it('an unreachable Keystone is a HeatUnavailableError (connection refused) after retries', async () => {
    const dead = keystone({ ...password('right'), authUrl: 'http://127.0.0.1:9/v3' });
    const error = await dead.session().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatUnavailableError);
    expect((error as HeatUnavailableError).code).toBe('ECONNREFUSED');
  });

  it('caches the token, shares one issue among concurrent callers, renews before expiry', async () => {
    let clock = Date.now();
    const auth = keystone(password('right'), () => clock);
    await emulator.admin.resetRequestCounts();
    const [a, b] = await Promise.all([auth.session(), auth.session()]);
    expect(a.token).toBe(b.token);
    expect((await auth.session()).token).toBe(a.token);
    expect((await emulator.admin.requestCounts()).byRoute['keystone.tokens']).toBe(1);
    clock = a.expiresAt - 60_000; // inside the renewal window (5 min before expiry)
    const renewed = await auth.session();
    expect(renewed.token).not.toBe(a.token);
    expect((await emulator.admin.requestCounts()).byRoute['keystone.tokens']).toBe(2);
  });

  it('a revoked token: Heat answers 401 and the client re-authenticates once', async () => {
    const client = clientFor(emulator, {}, { auth: password('right') });
    expect(await client.listStacks()).toEqual([]);
    await emulator.admin.revokeTokens();
    await emulator.admin.resetRequestCounts();
    expect(await client.listStacks()).toEqual([]);
    const counts = await emulator.admin.requestCounts();
    expect(counts.byRoute.unauthorized).toBe(1);
    expect(counts.byRoute['keystone.tokens']).toBe(1);
    expect(counts.byRoute['stacks.list']).toBe(1);
  });
});
