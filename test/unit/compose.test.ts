import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config';
import { LAB_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

/**
 * The deployment files checked without a Docker engine: what docker-compose.yml, the Dockerfile,
 * .env.example and config/compose.yaml must say for the deployment steps of docs/operations.md
 * to work.
 */
const ROOT = join(__dirname, '../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  env_file?: string | string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  init?: boolean;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const service = (name: string): Service => {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
/** `KEY=value` lines of an env file. */
const envFile = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
const example = envFile(read('.env.example'));
const operations = read('docs/operations.md');

describe('docker-compose.yml', () => {
  it('has every service docs/operations.md lists, with pinned official images', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'api',
        'mongo',
        'postgresql',
        'temporal',
        'temporal-schema',
        'temporal-setup',
        'temporal-ui',
        'worker',
      ].sort(),
    );
    expect(service('postgresql').image).toMatch(/^postgres:\d+/);
    expect(service('temporal').image).toMatch(/^temporalio\/server:\d+\.\d+\.\d+$/);
    expect(service('temporal-schema').image).toMatch(/^temporalio\/admin-tools:\d/);
    expect(service('temporal-setup').image).toBe(service('temporal-schema').image);
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);
    expect(service('mongo').image).toMatch(/^mongo:\d+\.\d+$/);
    for (const name of Object.keys(services)) expect(operations).toContain(`\`${name}\``);
  });

  it('runs the API and the worker from the one Dockerfile, with their own entrypoints', () => {
    for (const name of ['api', 'worker']) {
      const s = service(name);
      expect(s.build).toBe('.');
      expect(s.image).toBe(service('api').image);
      expect(s.init).toBe(true);
      expect(s.env_file).toBe('.env');
      expect(s.environment?.LABS_CONFIG).toBe('/app/config/compose.yaml');
      expect(s.volumes).toContain('./config:/app/config:ro');
    }
    expect(service('api').command).toEqual(['node', '--import', 'tsx', 'src/api/main.ts']);
    expect(service('worker').command).toEqual([
      'node',
      '--import',
      'tsx',
      'src/temporal/worker-main.ts',
    ]);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> })
      .scripts;
    expect(scripts.api).toBe('tsx src/api/main.ts');
    expect(scripts.worker).toBe('tsx src/temporal/worker-main.ts');
  });

  it('publishes the API, and Temporal UI and Temporal on loopback only', () => {
    expect(service('api').ports).toEqual(['${LABS_API_PORT:-8080}:8080']);
    expect(service('temporal-ui').ports).toEqual(['127.0.0.1:${LABS_TEMPORAL_UI_PORT:-8233}:8080']);
    expect(service('temporal').ports).toEqual(['127.0.0.1:7233:7233']);
    for (const name of ['mongo', 'postgresql', 'worker'])
      expect(service(name).ports).toBeUndefined();
    expect(operations).toContain('http://127.0.0.1:8233');
    expect(operations).toContain('http://127.0.0.1:8080');
  });

  it('health-checks every long-running service and starts them in order', () => {
    const oneShot = ['temporal-schema', 'temporal-setup'];
    for (const [name, s] of Object.entries(services)) {
      if (oneShot.includes(name)) {
        expect(s.restart).toMatch(/^on-failure/);
        expect(s.healthcheck).toBeUndefined();
      } else {
        expect(s.restart).toBe('unless-stopped');
        expect(s.healthcheck?.test.length).toBeGreaterThan(0);
      }
    }
    const dependsOn = Object.fromEntries(
      Object.entries(services).map(([name, s]) => [
        name,
        Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([d, c]) => [d, c.condition])),
      ]),
    );
    expect(dependsOn).toEqual({
      postgresql: {},
      'temporal-schema': { postgresql: 'service_healthy' },
      temporal: { 'temporal-schema': 'service_completed_successfully' },
      'temporal-setup': { temporal: 'service_healthy' },
      'temporal-ui': { 'temporal-setup': 'service_completed_successfully' },
      mongo: {},
      api: { mongo: 'service_healthy', 'temporal-setup': 'service_completed_successfully' },
      worker: { mongo: 'service_healthy', 'temporal-setup': 'service_completed_successfully' },
    });
    expect(service('api').healthcheck?.test.join(' ')).toContain('/readyz');
    expect(service('worker').environment?.LABS_WORKER_HEALTH_FILE).toBe('/tmp/worker-alive');
    expect(service('worker').healthcheck?.test.join(' ')).toContain('/tmp/worker-alive');
    expect(Object.keys(compose.volumes).sort()).toEqual(['mongo-data', 'temporal-postgres']);
  });

  it('registers every lab search attribute in a one-shot job, idempotently', () => {
    const setup = service('temporal-setup');
    expect(setup.entrypoint).toEqual(['/bin/sh', '/scripts/setup-namespace.sh']);
    expect(setup.volumes).toContain('./deploy/temporal:/scripts:ro');
    const script = read('deploy/temporal/setup-namespace.sh');
    for (const key of LAB_SEARCH_ATTRIBUTES) expect(script).toContain(key.name);
    expect(script).toContain('temporal operator search-attribute create');
    // Created only when missing: a restart of the job changes nothing.
    expect(script).toMatch(/search-attribute list[\s\S]*grep -qw "\$name"/);
    expect(service('temporal-schema').entrypoint).toEqual(['/bin/sh', '/scripts/setup-schema.sh']);
  });

  it('takes every variable it interpolates from .env.example', () => {
    const text = read('docker-compose.yml');
    const used = new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
    const optional = new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*):-/g)].map((m) => m[1]!));
    for (const name of used) {
      if (optional.has(name)) expect(read('.env.example')).toContain(`# ${name}=`);
      else expect(example[name]).toBeDefined();
    }
  });
});

describe('the deployment steps of docs/operations.md', () => {
  it('use the files and commands of this deployment', () => {
    for (const step of [
      'cp .env.example .env',
      '$EDITOR config/compose.yaml',
      'docker compose up -d --build',
      'docker compose restart api worker',
      'curl -s http://127.0.0.1:8080/readyz',
      'docker compose up -d --scale worker=3',
    ])
      expect(operations.replace(/\s+/g, ' ')).toContain(step);
    // The mounts docs/operations.md says make a config change a restart, not a rebuild.
    expect(service('worker').volumes).toEqual([
      './config:/app/config:ro',
      './heat-templates:/app/heat-templates:ro',
    ]);
  });
});

describe('.env.example and config/compose.yaml', () => {
  it('holds every secret and token docs/operations.md names, with placeholders only', () => {
    for (const name of [
      'LABS_SERVICE_TOKENS',
      'LABS_ADMIN_TOKENS',
      'LABS_SECRETS_KEY',
      'OS_PASSWORD_CLOUD_A',
      'POSTGRES_USER',
      'POSTGRES_PASSWORD',
    ]) {
      expect(example[name]).toBeDefined();
      expect(operations).toContain(name);
    }
    expect(example.LABS_SECRETS_KEY).toMatch(/REPLACE/);
  });

  it('is a valid configuration that points at the compose services', () => {
    const env = { ...example, LABS_SECRETS_KEY: undefined };
    const config = parseConfig(read('config/compose.yaml'), 'config/compose.yaml', env);
    expect(config.temporal).toEqual({
      address: 'temporal:7233',
      namespace: 'default',
      taskQueue: 'labs',
    });
    expect(config.mongodb?.uri).toMatch(/^mongodb:\/\/mongo:27017\//);
    expect(config.api).toMatchObject({ host: '0.0.0.0', port: 8080 });
    expect(config.emulator).toBeUndefined();
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds in stages and runs as a non-root user with production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = stages[stages.length - 1]!;
    expect(runtime).toMatch(/^node:20[\w.-]*slim AS runtime/);
    expect(runtime).toMatch(/^USER (node|[a-z_][a-z0-9_-]*)$/m);
    expect(runtime).not.toMatch(/^USER root$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).not.toMatch(/npm (ci|install)(?![^\n]*--omit=dev)/);
    expect(runtime).toContain('COPY --from=deps /app/node_modules ./node_modules');
    expect(runtime).toMatch(/^CMD \["node", "--import", "tsx", "src\/api\/main\.ts"\]$/m);
  });

  it('keeps secrets and local state out of the build context', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const path of ['.env', '.data', 'node_modules', '.git']) expect(ignored).toContain(path);
  });
});
