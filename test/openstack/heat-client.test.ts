import type { RunningEmulator } from '../../src/emulator';
import {
  HeatBadRequestError,
  HeatConflictError,
  HeatTimeoutError,
  type HeatClient,
  type StackProgress,
} from '../../src/openstack';
import { backoffDelay, isTransient } from '../../src/openstack/http';
import { HeatUnavailableError } from '../../src/openstack/errors';
import { clientFor, fastPoll, startFastEmulator, template, uniqueStackName } from './support';

describe('Heat client', () => {
  let emulator: RunningEmulator;
  let client: HeatClient;

  beforeAll(async () => {
    emulator = await startFastEmulator();
    client = clientFor(emulator);
  });
  afterAll(() => emulator.close());

  it('backs off with full jitter within the cap, and retries only what is safe', () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(backoffDelay(0, policy, () => 0.999)).toBeLessThan(100);
    expect(backoffDelay(3, policy, () => 0.999)).toBe(799);
    expect(backoffDelay(10, policy, () => 0.999)).toBe(999);
    expect(backoffDelay(10, policy, () => 0)).toBe(0);
    const refused = new HeatUnavailableError('x', { code: 'ECONNREFUSED' });
    const reset = new HeatUnavailableError('x', { code: 'ECONNRESET' });
    const fiveHundred = new HeatUnavailableError('x', { status: 500 });
    expect([refused, reset, fiveHundred].map((e) => isTransient(e, 'always'))).toEqual([
      true,
      true,
      true,
    ]);
    expect([refused, reset, fiveHundred].map((e) => isTransient(e, 'refusedOnly'))).toEqual([
      true,
      false,
      false,
    ]);
  });

  it('launches the secret lab: progress, outputs, resources, suspend, resume, delete', async () => {
    const name = uniqueStackName('lab');
    const ref = await client.createStack({
      name,
      template: template('test/secret-lab.yaml'),
      // 200 ms at the emulator's scale: long enough that a listing sees the create in progress
      // on a loaded machine (at 20 ms the first look could already find it complete).
      parameters: { password_length: 24, create_wait_secs: 10 },
      timeoutMins: 5,
    });
    expect(ref.name).toBe(name);
    const progress: StackProgress[] = [];
    const ready = await client.waitForStackStatus(ref, ['CREATE_COMPLETE'], {
      ...fastPoll(),
      onProgress: (p) => {
        progress.push(p);
      },
    });
    expect(progress.at(-1)).toEqual({ done: 2, total: 2 });
    expect(ready.outputs?.public_ip).toBe('192.0.2.10');
    expect(String(ready.outputs?.password)).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(await client.getOutputs(ref)).toEqual(ready.outputs);
    const resources = await client.listResources(ref);
    expect(resources.map((r) => [r.name, r.type, r.status]).sort()).toEqual([
      ['machine', 'OS::Heat::TestResource', 'CREATE_COMPLETE'],
      ['password', 'OS::Heat::RandomString', 'CREATE_COMPLETE'],
    ]);
    expect((await client.findStack(ref.id))?.name).toBe(name);
    expect((await client.listStacks({ name })).map((s) => s.id)).toEqual([ref.id]);

    await client.suspendStack(ref);
    const suspended = await client.waitForStackStatus(ref, ['SUSPEND_COMPLETE'], fastPoll());
    expect(suspended.outputs?.password).toBe(ready.outputs?.password);
    await client.resumeStack({ id: '', name }); // a name-only ref is resolved through Heat's 302
    await client.waitForStackStatus(ref, ['RESUME_COMPLETE'], fastPoll());

    await client.deleteStack(ref);
    const deleted = await client.waitForStackStatus(ref, ['DELETE_COMPLETE'], fastPoll());
    expect(deleted.outputs).toBeUndefined();
    await expect(client.deleteStack(ref)).resolves.toBeUndefined();
    await expect(client.deleteStack({ id: '', name })).resolves.toBeUndefined();
    expect(await client.findStack(name)).toBeNull();
  });

  it('reports progress resource by resource on a slow template', async () => {
    const ref = await client.createStack({
      name: uniqueStackName('slow'),
      template: template('test/slow.yaml'),
      parameters: { step_secs: 5 },
    });
    const seen: number[] = [];
    await client.waitForStackStatus(ref, ['CREATE_COMPLETE'], {
      ...fastPoll(),
      onProgress: (p) => {
        seen.push(p.done);
      },
    });
    expect(seen.at(-1)).toBe(4);
    expect(new Set(seen).size).toBeGreaterThan(2);
    await client.deleteStack(ref);
  });

  it('ends a wait with HeatTimeoutError at its deadline', async () => {
    const ref = await client.createStack({
      name: uniqueStackName('late'),
      template: template('test/slow.yaml'),
      parameters: { step_secs: 500 },
    });
    const started = Date.now();
    const error = await client
      .waitForStackStatus(ref, ['CREATE_COMPLETE'], { deadline: started + 300, minIntervalMs: 20 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeatTimeoutError);
    expect(error).toMatchObject({ stackName: ref.name, lastStatus: 'CREATE_IN_PROGRESS' });
    expect(Date.now() - started).toBeLessThan(1_500);
    await client.deleteStack(ref);
  });

  it('types Heat’s refusals: duplicate name, bad template, missing parameter', async () => {
    const name = uniqueStackName('dup');
    const ref = await client.createStack({ name, template: template('test/none.yaml') });
    await expect(
      client.createStack({ name, template: template('test/none.yaml') }),
    ).rejects.toMatchObject({
      constructor: HeatConflictError,
      heatType: 'StackExists',
      heatMessage: `The Stack (${name}) already exists.`,
      stackName: name,
    });
    await expect(
      client.createStack({ name: uniqueStackName('p'), template: template('single-vm.yaml') }),
    ).rejects.toMatchObject({ constructor: HeatBadRequestError, heatType: 'UserParameterMissing' });
    await expect(
      client.validateTemplate({
        template: 'heat_template_version: 2018-08-31\nresources: {r: {type: OS::Nope::Thing}}',
      }),
    ).rejects.toMatchObject({
      heatMessage: 'The Resource Type (OS::Nope::Thing) could not be found.',
    });
    await client.deleteStack(ref);
  });

  it('simulates the real single-VM template: a public IP and a private key', async () => {
    const ref = await client.createStack({
      name: uniqueStackName('vm'),
      template: template('single-vm.yaml'),
      parameters: {
        image: 'debian-12',
        flavor: 'm1.small',
        network: 'private',
        external_network: 'public',
      },
    });
    const stack = await client.waitForStackStatus(ref, ['CREATE_COMPLETE'], fastPoll());
    expect(stack.outputs?.public_ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(String(stack.outputs?.private_key)).toContain('PRIVATE KEY');
    await client.deleteStack(ref);
  });
});
