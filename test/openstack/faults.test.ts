import type { RunningEmulator } from '../../src/emulator';
import {
  HeatNotFoundError,
  HeatOverLimitError,
  HeatStackFailedError,
  HeatUnauthorizedError,
  HeatUnavailableError,
  type HeatClient,
} from '../../src/openstack';
import {
  clientFor,
  eventually,
  fastPoll,
  startFastEmulator,
  template,
  uniqueStackName,
} from './support';

/** Every fault the emulator can inject, and what the client makes of it. */
describe('client under injected faults', () => {
  let emulator: RunningEmulator;
  let client: HeatClient;
  const none = template('test/none.yaml');

  beforeAll(async () => {
    emulator = await startFastEmulator();
  });
  afterAll(() => emulator.close());
  beforeEach(async () => {
    await emulator.admin.reset();
    await emulator.admin.updateSettings({ createDelayMs: 5, waitScale: 0.02 });
    client = clientFor(emulator);
  });

  async function readyStack(prefix: string): Promise<{ id: string; name: string }> {
    const ref = await client.createStack({ name: uniqueStackName(prefix), template: none });
    await client.waitForStackStatus(ref, ['CREATE_COMPLETE'], fastPoll());
    return ref;
  }

  const showPath = (ref: { name: string; id: string }): string => `/stacks/${ref.name}/${ref.id}$`;

  it('latency: a slow answer within the timeout is simply awaited', async () => {
    const ref = await readyStack('latency');
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      fault: { kind: 'latency', ms: 200 },
    });
    const started = Date.now();
    const stack = await client.getStack(ref);
    expect(stack.status).toBe('CREATE_COMPLETE');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('latency past the request timeout: the GET times out and is retried', async () => {
    const ref = await readyStack('slowget');
    const impatient = clientFor(emulator, { requestTimeoutMs: 150 });
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      fault: { kind: 'latency', ms: 1_000 },
    });
    await emulator.admin.resetRequestCounts();
    const started = Date.now();
    const stack = await impatient.getStack(ref);
    expect(stack.id).toBe(ref.id);
    // The answer came from the retry, long before the delayed one would have.
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await emulator.admin.requestCounts()).byRoute['fault.latency']).toBe(1);
  });

  it('5xx on a GET: retried with backoff and succeeds', async () => {
    const ref = await readyStack('five');
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      times: 2,
      fault: { kind: 'status', status: 500 },
    });
    await emulator.admin.resetRequestCounts();
    expect((await client.getStack(ref)).status).toBe('CREATE_COMPLETE');
    expect((await emulator.admin.requestCounts()).byRoute['fault.status']).toBe(2);
  });

  it('5xx that persists: a retryable HeatUnavailableError naming the stack and keeping Heat’s message', async () => {
    const ref = await readyStack('down');
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      times: 10,
      fault: { kind: 'status', status: 503 },
    });
    const error = await client.getStack(ref).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatUnavailableError);
    const unavailable = error as HeatUnavailableError;
    expect(unavailable).toMatchObject({
      status: 503,
      stackName: ref.name,
      provider: 'emulated',
      retryable: true,
    });
    expect(unavailable.heatMessage).toContain('The Keystone service is temporarily unavailable');
    expect((await emulator.admin.faults())[0]?.remaining).toBe(6);
  });

  it('5xx on create: not retried (the outcome is unknown), and no stack was made', async () => {
    const name = uniqueStackName('create500');
    await emulator.admin.injectFault({
      method: 'POST',
      path: '/stacks$',
      fault: { kind: 'status', status: 500 },
    });
    const error = await client.createStack({ name, template: none }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatUnavailableError);
    expect((error as HeatUnavailableError).stackName).toBe(name);
    expect((error as HeatUnavailableError).heatMessage).toContain('DBConnectionError');
    expect(await emulator.admin.stacks()).toHaveLength(0);
  });

  it('5xx after the create was handled: the caller adopts the stack by name', async () => {
    const name = uniqueStackName('adopt');
    await emulator.admin.injectFault({
      method: 'POST',
      path: '/stacks$',
      fault: { kind: 'status', status: 502, afterHandling: true },
    });
    await expect(client.createStack({ name, template: none })).rejects.toBeInstanceOf(
      HeatUnavailableError,
    );
    const adopted = await client.findStack(name);
    expect(adopted?.name).toBe(name);
    expect(await emulator.admin.stacks()).toHaveLength(1);
  });

  it('hang: the request fails within its timeout, never later', async () => {
    const ref = await readyStack('hang');
    const oneShot = clientFor(emulator, { requestTimeoutMs: 300, retry: { attempts: 1 } });
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      fault: { kind: 'hang' },
    });
    const started = Date.now();
    const error = await oneShot.getStack(ref).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(HeatUnavailableError);
    expect((error as HeatUnavailableError).code).toBe('ETIMEDOUT');
    expect((error as HeatUnavailableError).stackName).toBe(ref.name);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('hang once: the timed-out GET is retried and succeeds', async () => {
    const ref = await readyStack('hang1');
    const patient = clientFor(emulator, { requestTimeoutMs: 300 });
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      fault: { kind: 'hang' },
    });
    expect((await patient.getStack(ref)).status).toBe('CREATE_COMPLETE');
  });

  it('hang after a create was handled: the create times out unretried, the stack exists to adopt', async () => {
    const name = uniqueStackName('hangcreate');
    const oneShot = clientFor(emulator, { requestTimeoutMs: 300 });
    await emulator.admin.injectFault({
      method: 'POST',
      path: '/stacks$',
      fault: { kind: 'hang', afterHandling: true },
    });
    const error = await oneShot.createStack({ name, template: none }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatUnavailableError);
    expect((error as HeatUnavailableError).code).toBe('ETIMEDOUT');
    const stacks = await emulator.admin.stacks();
    expect(stacks.map((s) => s.name)).toEqual([name]);
    expect((await client.findStack(name))?.id).toBe(stacks[0]?.id);
  });

  it('connection reset on a GET: retried and succeeds', async () => {
    const ref = await readyStack('reset');
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      fault: { kind: 'reset' },
    });
    expect((await client.getStack(ref)).id).toBe(ref.id);
  });

  it('connection reset on create: a HeatUnavailableError, not retried', async () => {
    const name = uniqueStackName('resetcreate');
    await emulator.admin.injectFault({
      method: 'POST',
      path: '/stacks$',
      times: 2,
      fault: { kind: 'reset' },
    });
    const error = await client.createStack({ name, template: none }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatUnavailableError);
    expect((error as HeatUnavailableError).code).toBe('ECONNRESET');
    expect((await emulator.admin.faults())[0]?.remaining).toBe(1);
  });

  it.each([
    ['requestLimit', 400, 'RequestLimitExceeded', 'maximum stacks per tenant'],
    ['entityTooLarge', 413, 'RequestLimitExceeded', 'Maximum resources per stack exceeded'],
    ['forbidden', 403, 'Forbidden', 'Quota exceeded'],
  ] as const)(
    'quota (%s): HeatOverLimitError with Heat’s type and message',
    async (variant, status, type, text) => {
      const name = uniqueStackName('quota');
      await emulator.admin.injectFault({
        method: 'POST',
        path: '/stacks$',
        fault: { kind: 'quota', variant },
      });
      const error = await client.createStack({ name, template: none }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HeatOverLimitError);
      expect(error).toMatchObject({ status, heatType: type, stackName: name, retryable: false });
      expect((error as HeatOverLimitError).heatMessage).toContain(text);
    },
  );

  it('the real per-project stack limit gives the same over-limit error', async () => {
    await emulator.admin.updateSettings({ maxStacksPerProject: 1 });
    await readyStack('limit');
    const error = await client
      .createStack({ name: uniqueStackName('limit'), template: none })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatOverLimitError);
    expect((error as HeatOverLimitError).heatMessage).toBe(
      'Request limit exceeded: You have reached the maximum stacks per tenant, 1. Please delete some stacks.',
    );
  });

  it('unauthorized once: the client takes a fresh token and carries on', async () => {
    const ref = await readyStack('unauth');
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      fault: { kind: 'unauthorized' },
    });
    await emulator.admin.resetRequestCounts();
    expect((await client.getStack(ref)).id).toBe(ref.id);
    expect((await emulator.admin.requestCounts()).byRoute['keystone.tokens']).toBe(1);
  });

  it('unauthorized again with a fresh token: HeatUnauthorizedError', async () => {
    const ref = await readyStack('unauth2');
    await emulator.admin.injectFault({
      method: 'GET',
      path: showPath(ref),
      times: 2,
      fault: { kind: 'unauthorized' },
    });
    const error = await client.getStack(ref).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatUnauthorizedError);
    expect(error).toMatchObject({ status: 401, stackName: ref.name });
  });

  it('CREATE_FAILED for the next create: waitForStackStatus ends with the stack and Heat’s reason', async () => {
    await emulator.admin.failNextCreate();
    const ref = await client.createStack({ name: uniqueStackName('failnext'), template: none });
    const error = await client
      .waitForStackStatus(ref, ['CREATE_COMPLETE'], fastPoll())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatStackFailedError);
    const failed = error as HeatStackFailedError;
    expect(failed.stackName).toBe(ref.name);
    expect(failed.stackStatus).toBe('CREATE_FAILED');
    expect(failed.statusReason).toMatch(
      /^Resource CREATE failed: ResourceInError: resources\.message: Went to status ERROR/,
    );
    expect(failed.message).toContain(ref.name);
  });

  it('CREATE_FAILED for a given stack name only, with a chosen reason', async () => {
    const doomed = uniqueStackName('doomed');
    await emulator.admin.failNextCreate({
      stackName: doomed,
      reason:
        'Forbidden: resources.message: Quota exceeded for instances: Requested 1, but already used 10 of 10 instances',
    });
    const other = await client.createStack({ name: uniqueStackName('fine'), template: none });
    await client.waitForStackStatus(other, ['CREATE_COMPLETE'], fastPoll());
    const ref = await client.createStack({ name: doomed, template: none });
    await expect(
      client.waitForStackStatus(ref, ['CREATE_COMPLETE'], fastPoll()),
    ).rejects.toMatchObject({
      statusReason:
        'Resource CREATE failed: Forbidden: resources.message: Quota exceeded for instances: Requested 1, but already used 10 of 10 instances',
    });
  });

  it('a stack deleted by hand: a wait for it ends with HeatNotFoundError, lookup by name finds nothing', async () => {
    const ref = await readyStack('byhand');
    await client.suspendStack(ref);
    await client.waitForStackStatus(ref, ['SUSPEND_COMPLETE'], fastPoll());
    await emulator.admin.deleteStackByHand(ref.name);
    await client.resumeStack(ref).catch(() => undefined);
    await expect(
      client.waitForStackStatus(ref, ['RESUME_COMPLETE'], fastPoll()),
    ).rejects.toBeInstanceOf(HeatNotFoundError);
    expect(await client.findStack(ref.name)).toBeNull();
    expect((await client.getStack(ref)).status).toBe('DELETE_COMPLETE');
  });

  it('a stack suspended by hand while being created: SUSPEND_FAILED with Heat’s reason', async () => {
    const ref = await client.createStack({
      name: uniqueStackName('handsusp'),
      template: template('test/slow.yaml'),
      parameters: { step_secs: 100 },
    });
    await emulator.admin.suspendStackByHand(ref.id);
    const error = await client
      .waitForStackStatus(ref, ['CREATE_COMPLETE'], fastPoll())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatStackFailedError);
    expect((error as HeatStackFailedError).statusReason).toBe(
      "Resource SUSPEND failed: Error: resources.step1: State ('CREATE', 'IN_PROGRESS') invalid for suspend",
    );
    await client.deleteStack(ref);
  });

  it('Keystone 5xx on token issue: retried', async () => {
    await emulator.admin.injectFault({
      method: 'POST',
      path: '^/v3/auth/tokens$',
      times: 2,
      fault: { kind: 'status', status: 500 },
    });
    expect(await client.listStacks()).toEqual([]);
  });

  describe('outages: every matching request fails for a while', () => {
    /** Polls a request until it succeeds; returns when the successful attempt was sent. */
    const firstSuccessSentAt = (request: () => Promise<unknown>, timeoutMs = 10_000) =>
      eventually(
        async () => {
          const sentAt = Date.now();
          return (await request().then(
            () => true,
            () => false,
          ))
            ? sentAt
            : undefined;
        },
        'a request to succeed after the outage',
        timeoutMs,
      );

    it('status: Heat and Keystone answer 503 to every request until the outage ends; /_admin still answers', async () => {
      const ref = await readyStack('outage');
      const oneShot = clientFor(emulator, { retry: { attempts: 1 } });
      await oneShot.getStack(ref); // it holds a token: its next calls go to Heat only
      await emulator.admin.resetRequestCounts();
      const rule = await emulator.admin.outage({ ms: 1_500, kind: 'status' });
      expect(rule).toMatchObject({ fault: { kind: 'status', status: 503 } });
      expect(rule.until).toBeGreaterThan(Date.now());
      expect(rule.remaining).toBeUndefined();

      for (let i = 0; i < 3; i++) {
        const error = await oneShot.getStack(ref).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(HeatUnavailableError);
        expect(error).toMatchObject({ status: 503 });
        expect((error as HeatUnavailableError).heatMessage).toContain(
          'The Keystone service is temporarily unavailable',
        );
      }
      // A client without a token asks Keystone first: down too.
      const fresh = clientFor(emulator, { retry: { attempts: 1 } });
      await expect(fresh.listStacks()).rejects.toMatchObject({ status: 503 });
      // The admin routes are the emulator's own, never part of the outage.
      expect((await emulator.admin.stacks()).map((s) => s.id)).toEqual([ref.id]);
      expect(await emulator.admin.faults()).toEqual([rule]);
      const counts = await emulator.admin.requestCounts();
      expect(counts.byRoute['outage.status']).toBe(4);
      expect([counts.heat, counts.keystone]).toEqual([3, 1]);

      const sentAt = await firstSuccessSentAt(() => fresh.listStacks());
      expect(sentAt).toBeGreaterThanOrEqual(rule.until!);
      expect((await oneShot.getStack(ref)).status).toBe('CREATE_COMPLETE');
      expect(await emulator.admin.faults()).toEqual([]);
    });

    it('hang: requests time out while it lasts, and one still held is dropped when it ends', async () => {
      const ref = await readyStack('outagehang');
      const impatient = clientFor(emulator, { requestTimeoutMs: 200, retry: { attempts: 1 } });
      const patient = clientFor(emulator, { requestTimeoutMs: 30_000, retry: { attempts: 1 } });
      await impatient.getStack(ref);
      await patient.getStack(ref);
      const rule = await emulator.admin.outage({ ms: 1_000, kind: 'hang' });

      const timedOut = await impatient.getStack(ref).catch((e: unknown) => e);
      expect(timedOut).toBeInstanceOf(HeatUnavailableError);
      expect((timedOut as HeatUnavailableError).code).toBe('ETIMEDOUT');

      const held = await patient.getStack(ref).catch((e: unknown) => e);
      const endedAt = Date.now();
      expect(held).toBeInstanceOf(HeatUnavailableError);
      expect((held as HeatUnavailableError).code).not.toBe('ETIMEDOUT');
      expect(endedAt).toBeGreaterThanOrEqual(rule.until!);
      // Dropped with the outage, not at the client's 30 s timeout.
      expect(endedAt).toBeLessThan(rule.until! + 5_000);

      const sentAt = await firstSuccessSentAt(() => impatient.getStack(ref));
      expect(sentAt).toBeGreaterThanOrEqual(rule.until!);
      expect((await emulator.admin.requestCounts()).byRoute['outage.hang']).toBe(2);
    });

    it('hang ended early: the requests it held are dropped then, not at its planned end', async () => {
      const ref = await readyStack('hangearly');
      const patient = clientFor(emulator, { requestTimeoutMs: 30_000, retry: { attempts: 1 } });
      await patient.getStack(ref);
      const rule = await emulator.admin.outage({ ms: 600_000, kind: 'hang' });
      const held = patient.getStack(ref).catch((e: unknown) => e);
      await eventually(
        async () =>
          (await emulator.admin.requestCounts()).byRoute['outage.hang'] === 1 ? true : undefined,
        'the request to be held',
      );
      const removedAt = Date.now();
      await emulator.admin.removeFault(rule.id);
      expect(await held).toBeInstanceOf(HeatUnavailableError);
      expect(Date.now() - removedAt).toBeLessThan(5_000);
      expect((await patient.getStack(ref)).status).toBe('CREATE_COMPLETE');
    });

    it('a subset: only stack DELETEs fail, other calls go through; ended early with removeFault', async () => {
      const ref = await readyStack('outagedel');
      const oneShot = clientFor(emulator, { retry: { attempts: 1 } });
      const rule = await emulator.admin.outage({
        ms: 600_000,
        kind: 'status',
        status: 502,
        method: 'DELETE',
        path: '/stacks/',
      });
      expect((await oneShot.getStack(ref)).status).toBe('CREATE_COMPLETE');
      await expect(oneShot.deleteStack(ref)).rejects.toMatchObject({ status: 502 });
      expect((await oneShot.getStack(ref)).status).toBe('CREATE_COMPLETE');
      expect(await emulator.admin.deletions()).toEqual([]);

      await emulator.admin.removeFault(rule.id);
      expect(await emulator.admin.faults()).toEqual([]);
      await oneShot.deleteStack(ref);
      await client.waitForStackStatus(ref, ['DELETE_COMPLETE'], fastPoll());
      expect((await emulator.admin.deletions()).map((d) => d.stackId)).toEqual([ref.id]);
      await expect(emulator.admin.removeFault(rule.id)).rejects.toThrow(/404/);
    });

    it('takes precedence over count-based faults, which it leaves for after it', async () => {
      const ref = await readyStack('outageorder');
      const oneShot = clientFor(emulator, { retry: { attempts: 1 } });
      const counted = await emulator.admin.injectFault({
        method: 'GET',
        path: showPath(ref),
        times: 2,
        fault: { kind: 'status', status: 500 },
      });
      const outage = await emulator.admin.outage({ ms: 600_000, kind: 'status' });
      await expect(oneShot.getStack(ref)).rejects.toMatchObject({ status: 503 });
      await expect(oneShot.getStack(ref)).rejects.toMatchObject({ status: 503 });
      expect(await emulator.admin.faults()).toEqual([counted, outage]);

      await emulator.admin.removeFault(outage.id);
      await expect(oneShot.getStack(ref)).rejects.toMatchObject({ status: 500 });
      expect((await emulator.admin.faults())[0]?.remaining).toBe(1);
    });

    it('refuses a rule with two limits or a limit that is not a positive number', async () => {
      const fault = { kind: 'status', status: 503 } as const;
      await expect(
        emulator.admin.injectFault({ times: 2, durationMs: 1_000, fault }),
      ).rejects.toThrow(/400.*one of times, durationMs, until/);
      await expect(emulator.admin.injectFault({ durationMs: -5, fault })).rejects.toThrow(
        /400.*durationMs must be a positive number/,
      );
      expect(await emulator.admin.faults()).toEqual([]);
    });
  });
});
