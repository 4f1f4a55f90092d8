import { parseConfig, type PoolConfig } from '../../src/config';
import { configProblemsOf } from '../support/config-problems';
import { poolPlan, poolTargetAt } from '../../src/pools/schedule';

const env = { OS_PASSWORD_A: 'secret-a' };

const withPool = (pool: string) => `
providers:
  - name: cloud-a
    auth: { authUrl: "https://keystone.example:5000/v3", username: labs, passwordEnv: OS_PASSWORD_A, projectName: labs, userDomainName: Default, projectDomainName: Default }
    region: RegionOne
    capacity: 200
labs:
  linux-basics:
    template: test/secret-lab.yaml
    providers: [cloud-a]
    connection: { protocol: ssh, hostOutput: public_ip, port: 22, username: training }
    launchTimeout: 10m
${pool}
`;

const problemsOf = (text: string) => configProblemsOf(text, env);

describe('pool configuration', () => {
  it('reads a pool with a schedule; warmup defaults to the launch timeout', () => {
    const config = parseConfig(
      withPool(`    pool:
      size: 2
      schedule:
        - { days: [mon, wed], from: "09:00", to: "12:00", timeZone: Europe/Paris, size: 20 }`),
      'labs.yaml',
      env,
    );
    expect(config.labs['linux-basics']!.pool).toEqual({
      size: 2,
      warmup: 600_000,
      checkEvery: 300_000,
      schedule: [
        { days: ['mon', 'wed'], from: '09:00', to: '12:00', timeZone: 'Europe/Paris', size: 20 },
      ],
    });
  });

  it('leaves labs without a pool as they were', () => {
    const config = parseConfig(withPool(''), 'labs.yaml', env);
    expect(config.labs['linux-basics']!.pool).toBeUndefined();
  });

  it('reports every mistake in a schedule with its line and field', () => {
    const problems = problemsOf(
      withPool(`    pool:
      size: -1
      schedule:
        - { days: [monday], from: "9am", to: "12:00", timeZone: Mars/Olympus, size: 5 }
        - { days: [tue], from: "14:00", to: "10:00", timeZone: UTC, size: 5, colour: red }`),
    );
    expect(problems.map((p) => `${p.line}: ${p.path}: ${p.message}`)).toEqual([
      '14: labs.linux-basics.pool.size: must be 0 or more',
      expect.stringMatching(/^16: labs\.linux-basics\.pool\.schedule\.0\.days\.0: .*"mon"/),
      '16: labs.linux-basics.pool.schedule.0.from: must be a time of day such as "09:00" (24-hour clock)',
      '16: labs.linux-basics.pool.schedule.0.timeZone: unknown time zone "Mars/Olympus" (an IANA name such as Europe/Paris)',
      '17: labs.linux-basics.pool.schedule.1: unknown field colour',
      '17: labs.linux-basics.pool.schedule.1: to must be after from (split a window that crosses midnight in two)',
    ]);
  });

  it('refuses a window that ends before it starts', () => {
    const problems = problemsOf(
      withPool(`    pool:
      size: 1
      schedule:
        - { days: [tue], from: "14:00", to: "10:00", timeZone: UTC, size: 5 }`),
    );
    expect(problems).toEqual([
      expect.objectContaining({
        line: 16,
        path: 'labs.linux-basics.pool.schedule.0',
        message: 'to must be after from (split a window that crosses midnight in two)',
      }),
    ]);
  });
});

describe('pool schedule', () => {
  // Monday 2026-03-02 is a Monday; Paris is UTC+1 then.
  const monday = (clock: string) => Date.parse(`2026-03-02T${clock}:00+01:00`);
  const pool: PoolConfig = {
    size: 2,
    warmup: 15 * 60_000,
    checkEvery: 300_000,
    schedule: [{ days: ['mon'], from: '09:00', to: '12:00', timeZone: 'Europe/Paris', size: 20 }],
  };

  it('grows a warmup ahead of the window and shrinks when it ends', () => {
    expect(poolTargetAt(pool, monday('08:40'))).toBe(2);
    expect(poolTargetAt(pool, monday('08:45'))).toBe(20);
    expect(poolTargetAt(pool, monday('11:59'))).toBe(20);
    expect(poolTargetAt(pool, monday('12:00'))).toBe(2);
    expect(poolTargetAt(pool, monday('08:45') + 7 * 86_400_000)).toBe(20);
    expect(poolTargetAt(pool, monday('08:45') + 86_400_000)).toBe(2);
  });

  it('tells when the target changes next, so the pool sleeps until then', () => {
    expect(poolPlan(pool, monday('07:00'))).toEqual({ target: 2, nextChangeAt: monday('08:45') });
    expect(poolPlan(pool, monday('10:00'))).toEqual({ target: 20, nextChangeAt: monday('12:00') });
    expect(poolPlan(pool, monday('12:30')).nextChangeAt).toBe(monday('08:45') + 7 * 86_400_000);
    expect(poolPlan({ ...pool, schedule: [] }, monday('10:00'))).toEqual({
      target: 2,
      nextChangeAt: null,
    });
  });

  it("follows daylight saving time in the window's time zone", () => {
    // 2026-03-30 is the Monday after Paris moved to UTC+2.
    const summerMonday = Date.parse('2026-03-30T08:45:00+02:00');
    expect(poolTargetAt(pool, summerMonday)).toBe(20);
    expect(poolTargetAt(pool, summerMonday - 3_600_000)).toBe(2);
  });
});
