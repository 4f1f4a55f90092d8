import type { Milliseconds } from '../../workflows/duration';
import type { EventType } from '../../workflows/events';

export type EndpointInterface = 'public' | 'internal' | 'admin';

/** Keystone credentials with every indirection (environment variable, clouds.yaml) already resolved. */
export type ProviderAuth =
  | {
      kind: 'password';
      authUrl: string;
      user: { name?: string; id?: string; domainName?: string; domainId?: string };
      password: string;
      project: { name?: string; id?: string; domainName?: string; domainId?: string };
      interface: EndpointInterface;
    }
  | {
      kind: 'applicationCredential';
      authUrl: string;
      applicationCredentialId: string;
      secret: string;
      interface: EndpointInterface;
    };

export interface ProviderConfig {
  name: string;
  auth: ProviderAuth;
  region: string;
  /** Max concurrent non-deleted stacks: -1 unlimited, 0 disabled. */
  capacity: number;
}

export type ParameterValue = string | number | boolean;

export interface LabProviderChoice {
  name: string;
  /** Per-cloud overrides, merged over the lab's parameters. */
  parameters: Record<string, ParameterValue>;
}

export interface ConnectionSpec {
  protocol: 'ssh' | 'rdp' | 'vnc' | 'http' | 'https';
  host?: string;
  hostOutput?: string;
  port?: number;
  portOutput?: string;
  username?: string;
  usernameOutput?: string;
}

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** A time window (local time in `timeZone`, on each of `days`) in which the pool holds `size` stacks. */
export interface PoolWindow {
  days: Weekday[];
  /** "HH:MM", 24-hour clock, local time. */
  from: string;
  to: string;
  timeZone: string;
  size: number;
}

/** A warm pool: stacks built and suspended ahead of learners, handed out at launch. */
export interface PoolConfig {
  /** Stacks kept ready outside any window. */
  size: number;
  schedule: PoolWindow[];
  /** How long before a window starts the pool begins to grow (building takes this long). */
  warmup: Milliseconds;
  /** How often the pool asks Heat whether its ready stacks still exist. */
  checkEvery: Milliseconds;
}

/** A graded check of a lab: `script` (under checks/) runs on the lab; exit status 0 passes. */
export interface CheckConfig {
  name: string;
  title: string;
  /** Path relative to checks/. */
  script: string;
  timeout: Milliseconds;
  weight: number;
}

/** An in-lab hook: `script` (under hooks/) run on the lab over SSH, killed after `timeout`. */
export interface HookConfig {
  /** Path relative to hooks/. */
  script: string;
  timeout: Milliseconds;
}

export type HookName = 'postResume' | 'preSuspend' | 'preDelete';

export interface LabHooks {
  postResume?: HookConfig;
  preSuspend?: HookConfig;
  /** `resumeSuspended`: a suspended stack is resumed for the hook before it is deleted. */
  preDelete?: HookConfig & { resumeSuspended: boolean };
}

export interface LabConfig {
  name: string;
  /** Path relative to heat-templates/. */
  template: string;
  parameters: Record<string, ParameterValue>;
  providers: LabProviderChoice[];
  connection: ConnectionSpec;
  secretOutputs: string[];
  launchTimeout: Milliseconds;
  idleTimeout: Milliseconds;
  deleteAfter: Milliseconds;
  maxLifetime?: Milliseconds;
  pool?: PoolConfig;
  checks: CheckConfig[];
  /** Lead times of lab.suspend_warning and lab.delete_warning; null: no such warning. */
  notifications: { suspendWarning: Milliseconds | null; deleteWarning: Milliseconds | null };
  hooks: LabHooks;
  /** Per stack-hour, for the usage report's estimates. */
  cost?: LabCost;
}

export interface LabCost {
  runningPerHour: number;
  suspendedPerHour: number;
  currency: string;
}

/** A cap on one learner's charged running time (workflows/usage.ts says what is charged). */
export interface UsageLimitConfig {
  scope: 'site' | 'course' | 'lab';
  /** Only labs of these courses; null: every course. */
  courses: string[] | null;
  /** Only these labs; null: every lab. */
  labs: string[] | null;
  limit: Milliseconds;
  /** "course" (all time) or "<N>d": the last N UTC days, today included. */
  window: string;
  breach: 'warn' | 'block' | 'suspend';
  /** The warning goes out at this fraction of the limit. */
  warnAt: number;
}

/** A webhook endpoint with its secrets resolved from the environment. */
export interface WebhookConfig {
  name: string;
  url: string;
  /** The first signs with the others during a rotation: every one gives a signature. */
  secrets: string[];
  /** "*" expanded. */
  events: EventType[];
  /** Only these labs' events; null: every lab. */
  labs: string[] | null;
}

/** A token bucket: `perSecond` sustained, `burst` at once. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** The API's request limits (heartbeats are never limited). */
export interface RateLimits {
  /** Ceiling per service or admin token. */
  perToken: RateLimit;
  /** Per lab, under a service token (one LMS token serves every learner). */
  perLab: RateLimit;
  /** Per learner (course and anonymous id) on launches, under a service token. */
  perLearner: RateLimit;
}

export interface Config {
  /** The file this came from, for messages. */
  file: string;
  temporal?: { address: string; namespace: string; taskQueue: string };
  mongodb?: { uri: string };
  api: {
    host: string;
    port: number;
    heartbeatFlush: Milliseconds;
    /** Origins allowed to POST heartbeats from a browser (CORS); "*" for any. */
    corsOrigins?: string[];
    rateLimit: RateLimits;
    /** How often the figures /metrics serves are re-read from MongoDB. */
    metricsRefresh: Milliseconds;
  };
  emulator?: { host: string; port: number; createDelay: Milliseconds };
  /** `npm start` serves a learner's page of `lab` on 127.0.0.1:`port`, allowed by the API's CORS. */
  demoPage?: { port: number; lab: string };
  /** Lab workflows a worker keeps cached in memory (the rest are replayed when they wake). */
  worker: { maxCachedWorkflows: number };
  /** How often a waiting lab re-reads its policy from the configuration. */
  policyRefresh: Milliseconds;
  /** How long records are kept (see src/store/retention.ts), swept every `sweepEvery`. */
  retention: {
    events: Milliseconds;
    deletedLabs: Milliseconds;
    poolRecords: Milliseconds;
    webhookDeliveries: Milliseconds;
    sweepEvery: Milliseconds;
  };
  webhooks: WebhookConfig[];
  usageLimits: UsageLimitConfig[];
  webhookDelivery: {
    retrySchedule: Milliseconds[];
    timeout: Milliseconds;
    internalHosts: string[];
  };
  providers: ProviderConfig[];
  labs: Record<string, LabConfig>;
}

export interface SecretsKey {
  id: string;
  /** 32 bytes for AES-256-GCM. */
  key: Buffer;
}

/** Everything the product takes from the environment, read once by src/config. */
export interface Environment {
  configPath: string;
  serviceTokens: string[];
  adminTokens: string[];
  /** First encrypts, all decrypt (rotation). Empty when unset. */
  secretsKeys: SecretsKey[];
  mongodbUri?: string;
  dataDir: string;
  logLevel: string;
  /** A worker process touches this file while it polls, for a container health check. */
  workerHealthFile?: string;
}
