import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import { EVENT_TYPES } from '../../workflows/events';
import { webhookUrlProblem } from '../webhooks/url-policy';
import { ConfigError, type ConfigProblem } from './errors';
import { configSchema, type RawConfig, type RawProvider } from './schema';
import { formatDuration, type Milliseconds } from '../../workflows/duration';
import type {
  Config,
  LabConfig,
  ProviderAuth,
  ProviderConfig,
  UsageLimitConfig,
  WebhookConfig,
} from './types';

export const TEMPLATES_DIR = resolve(__dirname, '../../heat-templates');
/** Check scripts (a lab's `checks`), beside heat-templates/. */
export const CHECKS_DIR = resolve(__dirname, '../../checks');
/** In-lab hook scripts (a lab's `hooks`), beside checks/. */
export const HOOKS_DIR = resolve(__dirname, '../../hooks');
/** Default lead times of the warnings (each at most half of the period it warns within). */
const DEFAULT_SUSPEND_WARNING = 2 * 60_000;
const DEFAULT_DELETE_WARNING = 24 * 3_600_000;

type EnvLookup = Record<string, string | undefined>;

/**
 * Reads, validates and resolves the YAML configuration. Every problem is collected and
 * reported together (file, line, field path, what is wrong) in one ConfigError.
 */
export function loadConfig(file: string, env: EnvLookup): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      { file, path: '', message: `cannot read the file: ${(err as Error).message}` },
    ]);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: EnvLookup): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        file,
        path: '',
        line: lineCounter.linePos(e.pos[0]).line,
        message: `not valid YAML: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const lineOf = (path: PropertyKey[]): number | undefined => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = doc.getIn(path.slice(0, depth) as unknown[], true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const problem = (path: PropertyKey[], message: string, linePath = path): ConfigProblem => ({
    file,
    path: path.map(String).join('.'),
    line: lineOf(linePath),
    message,
  });

  const parsed = configSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) =>
        problem(
          issue.path,
          describeIssue(issue, doc.hasIn(issue.path as unknown[])),
          // An unknown field is reported on its object, at the line of the field itself.
          issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path,
        ),
      ),
    );
  }
  const problems: ConfigProblem[] = [];
  const config = resolveConfig(parsed.data, file, env, (path, message) =>
    problems.push(problem(path, message)),
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function describeIssue(issue: z.core.$ZodIssue, present: boolean): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && !present) return 'is required';
  return issue.message;
}

type Report = (path: PropertyKey[], message: string) => void;

function resolveConfig(raw: RawConfig, file: string, env: EnvLookup, report: Report): Config {
  const providers = raw.providers.map((p, i) => resolveProvider(p, ['providers', i], env, report));
  const seen = new Set<string>();
  raw.providers.forEach((p, i) => {
    if (seen.has(p.name)) report(['providers', i, 'name'], `provider "${p.name}" is defined twice`);
    seen.add(p.name);
  });

  const labs: Record<string, LabConfig> = {};
  for (const [name, lab] of Object.entries(raw.labs)) {
    const at = ['labs', name];
    if (!existsSync(join(TEMPLATES_DIR, lab.template))) {
      report([...at, 'template'], `template ${lab.template} not found under heat-templates/`);
    }
    const choices = lab.providers.map((choice) =>
      typeof choice === 'string' ? { name: choice, parameters: {} } : choice,
    );
    choices.forEach((choice, i) => {
      if (!seen.has(choice.name)) {
        report(
          [...at, 'providers', i],
          `unknown provider "${choice.name}" (defined: ${[...seen].join(', ')})`,
        );
      }
    });
    const checkNames = new Set<string>();
    lab.checks.forEach((check, i) => {
      if (checkNames.has(check.name))
        report([...at, 'checks', i, 'name'], `check "${check.name}" is defined twice`);
      checkNames.add(check.name);
      if (!existsSync(join(CHECKS_DIR, check.script)))
        report([...at, 'checks', i, 'script'], `script ${check.script} not found under checks/`);
    });
    for (const [hook, spec] of Object.entries(lab.hooks)) {
      if (spec && !existsSync(join(HOOKS_DIR, spec.script)))
        report([...at, 'hooks', hook, 'script'], `script ${spec.script} not found under hooks/`);
    }
    const lead = (
      field: 'suspendWarning' | 'deleteWarning',
      period: Milliseconds,
      periodName: string,
      fallback: Milliseconds,
    ): Milliseconds | null => {
      const given = lab.notifications[field];
      if (given === 'off') return null;
      if (given === undefined) return Math.min(fallback, Math.floor(period / 2));
      if (given >= period)
        report(
          [...at, 'notifications', field],
          `must be shorter than the lab's ${periodName} (${formatDuration(period)})`,
        );
      return given;
    };
    labs[name] = {
      name,
      template: lab.template,
      parameters: lab.parameters,
      providers: choices,
      connection: lab.connection,
      secretOutputs: lab.secretOutputs,
      launchTimeout: lab.launchTimeout,
      idleTimeout: lab.idleTimeout,
      deleteAfter: lab.deleteAfter,
      maxLifetime: lab.maxLifetime,
      checks: lab.checks,
      notifications: {
        suspendWarning: lead(
          'suspendWarning',
          lab.idleTimeout,
          'idleTimeout',
          DEFAULT_SUSPEND_WARNING,
        ),
        deleteWarning: lead(
          'deleteWarning',
          lab.deleteAfter,
          'deleteAfter',
          DEFAULT_DELETE_WARNING,
        ),
      },
      hooks: lab.hooks,
      ...(lab.cost ? { cost: lab.cost } : {}),
      ...(lab.pool ? { pool: { ...lab.pool, warmup: lab.pool.warmup ?? lab.launchTimeout } } : {}),
    };
  }
  if (raw.demoPage && !labs[raw.demoPage.lab]) {
    report(
      ['demoPage', 'lab'],
      `unknown lab "${raw.demoPage.lab}" (defined: ${Object.keys(labs).join(', ')})`,
    );
  }
  const webhooks = resolveWebhooks(raw, labs, env, report);
  return {
    file,
    temporal: raw.temporal,
    mongodb: raw.mongodb,
    api: raw.api,
    emulator: raw.emulator,
    demoPage: raw.demoPage,
    worker: raw.worker,
    policyRefresh: raw.policyRefresh,
    retention: raw.retention,
    webhooks,
    usageLimits: resolveUsageLimits(raw, labs, report),
    webhookDelivery: raw.webhookDelivery,
    providers: providers.filter((p): p is ProviderConfig => p !== undefined),
    labs,
  };
}

function resolveUsageLimits(
  raw: RawConfig,
  labs: Record<string, LabConfig>,
  report: Report,
): UsageLimitConfig[] {
  return raw.usageLimits.map((limit, i) => {
    (limit.labs ?? []).forEach((lab, j) => {
      if (!Object.hasOwn(labs, lab))
        report(
          ['usageLimits', i, 'labs', j],
          `unknown lab "${lab}" (defined: ${Object.keys(labs).join(', ')})`,
        );
    });
    return { ...limit, courses: limit.courses ?? null, labs: limit.labs ?? null };
  });
}

function resolveWebhooks(
  raw: RawConfig,
  labs: Record<string, LabConfig>,
  env: EnvLookup,
  report: Report,
): WebhookConfig[] {
  const names = new Set<string>();
  return raw.webhooks.flatMap((hook, i) => {
    const at = ['webhooks', i];
    if (names.has(hook.name)) report([...at, 'name'], `webhook "${hook.name}" is defined twice`);
    names.add(hook.name);
    const urlProblem = webhookUrlProblem(hook.url, raw.webhookDelivery.internalHosts);
    if (urlProblem) report([...at, 'url'], urlProblem);
    (hook.labs ?? []).forEach((lab, j) => {
      if (!Object.hasOwn(labs, lab))
        report(
          [...at, 'labs', j],
          `unknown lab "${lab}" (defined: ${Object.keys(labs).join(', ')})`,
        );
    });
    const secrets = (env[hook.secretEnv] ?? '').split(/\s+/).filter(Boolean);
    if (secrets.length === 0)
      report([...at, 'secretEnv'], `environment variable ${hook.secretEnv} is not set`);
    secrets.forEach((secret, j) => {
      try {
        new Webhook(secret);
      } catch {
        report(
          [...at, 'secretEnv'],
          `secret ${j + 1} in ${hook.secretEnv} is not a Standard Webhooks secret (whsec_ and base64)`,
        );
      }
    });
    if (urlProblem || secrets.length === 0) return [];
    return [
      {
        name: hook.name,
        url: hook.url,
        secrets,
        events: hook.events.includes('*')
          ? [...EVENT_TYPES]
          : hook.events.filter((e): e is (typeof EVENT_TYPES)[number] => e !== '*'),
        labs: hook.labs ?? null,
      },
    ];
  });
}

function resolveProvider(
  raw: RawProvider,
  at: PropertyKey[],
  env: EnvLookup,
  report: Report,
): ProviderConfig | undefined {
  const auth = resolveAuth(raw.auth, [...at, 'auth'], env, report);
  return auth && { name: raw.name, auth, region: raw.region, capacity: raw.capacity };
}

function resolveAuth(
  raw: RawProvider['auth'],
  at: PropertyKey[],
  env: EnvLookup,
  report: Report,
): ProviderAuth | undefined {
  if ('cloud' in raw) return resolveCloudsYaml(raw.cloud, raw.interface, at, env, report);
  if ('applicationCredentialId' in raw) {
    const secret = env[raw.secretEnv];
    if (!secret)
      return void report([...at, 'secretEnv'], `environment variable ${raw.secretEnv} is not set`);
    return {
      kind: 'applicationCredential',
      authUrl: raw.authUrl,
      applicationCredentialId: raw.applicationCredentialId,
      secret,
      interface: raw.interface,
    };
  }
  const missing: Array<[PropertyKey[], string]> = [];
  if (!raw.username && !raw.userId) missing.push([at, 'give username or userId']);
  if (!raw.projectName && !raw.projectId) missing.push([at, 'give projectName or projectId']);
  if (raw.username && !raw.userDomainName && !raw.userDomainId) {
    missing.push([at, 'a username needs userDomainName or userDomainId']);
  }
  if (raw.projectName && !raw.projectDomainName && !raw.projectDomainId) {
    missing.push([at, 'a projectName needs projectDomainName or projectDomainId']);
  }
  const password = env[raw.passwordEnv];
  if (!password)
    missing.push([[...at, 'passwordEnv'], `environment variable ${raw.passwordEnv} is not set`]);
  missing.forEach(([path, message]) => report(path, message));
  if (missing.length > 0 || !password) return undefined;
  return {
    kind: 'password',
    authUrl: raw.authUrl,
    user: {
      name: raw.username,
      id: raw.userId,
      domainName: raw.userDomainName,
      domainId: raw.userDomainId,
    },
    password,
    project: {
      name: raw.projectName,
      id: raw.projectId,
      domainName: raw.projectDomainName,
      domainId: raw.projectDomainId,
    },
    interface: raw.interface,
  };
}

/** clouds.yaml is looked up where openstacksdk looks: OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack, /etc/openstack. */
function resolveCloudsYaml(
  cloud: string,
  iface: 'public' | 'internal' | 'admin',
  at: PropertyKey[],
  env: EnvLookup,
  report: Report,
): ProviderAuth | undefined {
  const candidates = [
    env.OS_CLIENT_CONFIG_FILE,
    resolve('clouds.yaml'),
    join(homedir(), '.config/openstack/clouds.yaml'),
    '/etc/openstack/clouds.yaml',
  ].filter((p): p is string => !!p);
  const file = candidates.find((p) => existsSync(p));
  if (!file)
    return void report(
      [...at, 'cloud'],
      `no clouds.yaml found (looked in ${candidates.join(', ')})`,
    );
  const doc = parseDocument(readFileSync(file, 'utf8')).toJS() as {
    clouds?: Record<string, CloudsYamlEntry>;
  } | null;
  const entry = doc?.clouds?.[cloud];
  if (!entry?.auth?.auth_url)
    return void report(
      [...at, 'cloud'],
      `cloud "${cloud}" not found (or has no auth.auth_url) in ${file}`,
    );
  const a = entry.auth;
  const authUrl = a.auth_url as string;
  const chosenInterface = (entry.interface as typeof iface | undefined) ?? iface;
  if (a.application_credential_id && a.application_credential_secret) {
    return {
      kind: 'applicationCredential',
      authUrl,
      applicationCredentialId: a.application_credential_id,
      secret: a.application_credential_secret,
      interface: chosenInterface,
    };
  }
  if (!a.password)
    return void report(
      [...at, 'cloud'],
      `cloud "${cloud}" in ${file} has neither a password nor an application credential`,
    );
  return {
    kind: 'password',
    authUrl,
    user: {
      name: a.username,
      id: a.user_id,
      domainName: a.user_domain_name ?? a.domain_name,
      domainId: a.user_domain_id,
    },
    password: a.password,
    project: {
      name: a.project_name,
      id: a.project_id,
      domainName: a.project_domain_name ?? a.domain_name,
      domainId: a.project_domain_id,
    },
    interface: chosenInterface,
  };
}

interface CloudsYamlEntry {
  auth?: Partial<
    Record<
      | 'auth_url'
      | 'username'
      | 'user_id'
      | 'password'
      | 'project_name'
      | 'project_id'
      | 'user_domain_name'
      | 'user_domain_id'
      | 'project_domain_name'
      | 'project_domain_id'
      | 'domain_name'
      | 'application_credential_id'
      | 'application_credential_secret',
      string
    >
  >;
  region_name?: string;
  interface?: string;
}
