import { z } from 'zod';
import { parseDuration } from '../../workflows/duration';
import { EVENT_TYPES } from '../../workflows/events';

export const duration = z
  .string({ error: 'must be a duration such as "90s", "15m" or "14d"' })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" is not a duration such as "90s", "15m" or "14d"`,
      });
      return z.NEVER;
    }
    return ms;
  });

const positiveDuration = duration.refine((ms) => ms > 0, 'must be longer than zero');

const DAY_MS = 86_400_000;

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7233');

/** Heat's stack name rule is enforced on lab names too, since they become part of stack names. */
export const labNamePattern = /^[a-z][a-z0-9-]{0,62}$/;
const providerName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,62}$/,
    'must be lowercase letters, digits and "-", starting with a letter',
  );

const passwordAuth = z.strictObject({
  authUrl: z.url(),
  username: z.string().min(1).optional(),
  userId: z.string().min(1).optional(),
  passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable'),
  projectName: z.string().min(1).optional(),
  projectId: z.string().min(1).optional(),
  userDomainName: z.string().min(1).optional(),
  userDomainId: z.string().min(1).optional(),
  projectDomainName: z.string().min(1).optional(),
  projectDomainId: z.string().min(1).optional(),
  interface: z.enum(['public', 'internal', 'admin']).default('public'),
});

const applicationCredentialAuth = z.strictObject({
  authUrl: z.url(),
  applicationCredentialId: z.string().min(1),
  secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable'),
  interface: z.enum(['public', 'internal', 'admin']).default('public'),
});

const cloudsYamlAuth = z.strictObject({
  cloud: z.string().min(1),
  interface: z.enum(['public', 'internal', 'admin']).default('public'),
});

export const providerSchema = z.strictObject({
  name: providerName,
  auth: z.union([passwordAuth, applicationCredentialAuth, cloudsYamlAuth], {
    error:
      'must be password auth (authUrl, username, passwordEnv, projectName), an application credential (authUrl, applicationCredentialId, secretEnv) or { cloud: name }',
  }),
  region: z.string().min(1),
  capacity: z.number().int().min(-1, 'must be -1 (unlimited), 0 (disabled) or a positive count'),
});

const parameterValue = z.union([z.string(), z.number(), z.boolean()]);
const parameters = z.record(z.string(), parameterValue);

const labProvider = z.union([
  providerName,
  z.strictObject({ name: providerName, parameters: parameters.default({}) }),
]);

const connection = z
  .strictObject({
    protocol: z.enum(['ssh', 'rdp', 'vnc', 'http', 'https']),
    host: z.string().min(1).optional(),
    hostOutput: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    portOutput: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    usernameOutput: z.string().min(1).optional(),
  })
  .refine((c) => (c.host === undefined) !== (c.hostOutput === undefined), {
    message: 'give exactly one of host or hostOutput',
  })
  .refine((c) => (c.port === undefined) !== (c.portOutput === undefined), {
    message: 'give exactly one of port or portOutput',
  })
  .refine((c) => !(c.username !== undefined && c.usernameOutput !== undefined), {
    message: 'give at most one of username or usernameOutput',
  });

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const clockTime = z
  .string({ error: 'must be a time of day such as "09:00"' })
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day such as "09:00" (24-hour clock)');
const timeZone = z.string().refine(isTimeZone, {
  error: (issue) =>
    `unknown time zone "${String(issue.input)}" (an IANA name such as Europe/Paris)`,
});
const poolSize = z.number().int().min(0, 'must be 0 or more').max(1000, 'must be at most 1000');

/** A window in which the pool is bigger, e.g. a class every Monday 09:00-12:00 Paris time. */
const poolWindow = z
  .strictObject({
    days: z.array(z.enum(WEEKDAYS)).min(1, 'must list at least one day (mon ... sun)'),
    from: clockTime,
    to: clockTime,
    timeZone,
    size: poolSize,
  })
  .refine((w) => w.to > w.from, {
    message: 'to must be after from (split a window that crosses midnight in two)',
  });

export const poolSchema = z.strictObject({
  size: poolSize,
  schedule: z.array(poolWindow).default([]),
  /** How long before a window starts the pool begins to grow; defaults to the lab's launchTimeout. */
  warmup: duration.optional(),
  /** How often the pool asks Heat whether its stacks still exist. */
  checkEvery: positiveDuration.default(300_000),
});

/** The longest a check script may run on the lab (`timeout -k 5` kills it there after this). */
export const MAX_CHECK_TIMEOUT_MS = 600_000;

/** A graded check: a script under checks/ run on the learner's lab over SSH (exit 0 passes). */
const checkSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - and _'),
  title: z.string().min(1).max(200),
  script: z.string().regex(/^[\w./-]+\.sh$/, 'must be a .sh file under checks/'),
  timeout: positiveDuration
    .refine((ms) => ms <= MAX_CHECK_TIMEOUT_MS, 'must be at most 10m')
    .default(30_000),
  weight: z.number().positive('must be more than 0').default(1),
});

/** The longest an in-lab hook may run before it is killed and the lab goes on. */
export const MAX_HOOK_TIMEOUT_MS = 600_000;

/** An in-lab hook: a script under hooks/ run on the learner's stack over SSH around a transition. */
const hookSchema = z.strictObject({
  script: z.string().regex(/^[\w./-]+\.sh$/, 'must be a .sh file under hooks/'),
  timeout: positiveDuration
    .refine((ms) => ms <= MAX_HOOK_TIMEOUT_MS, 'must be at most 10m')
    .default(30_000),
});

/** A warning's lead time before its deadline, or "off". */
const warningLead = z.union([z.literal('off'), positiveDuration]);

export const labSchema = z.strictObject({
  template: z.string().regex(/^[\w./-]+\.ya?ml$/, 'must be a .yaml file under heat-templates/'),
  parameters: parameters.default({}),
  providers: z.array(labProvider).min(1, 'must list at least one provider'),
  connection,
  secretOutputs: z.array(z.string().min(1)).default([]),
  launchTimeout: positiveDuration.default(600_000),
  idleTimeout: positiveDuration.default(900_000),
  deleteAfter: positiveDuration.default(14 * 86_400_000),
  maxLifetime: positiveDuration.optional(),
  pool: poolSchema.optional(),
  checks: z.array(checkSchema).default([]),
  /**
   * Lead times of the warning events (lab.suspend_warning, lab.delete_warning). Defaults: 2m
   * before a suspend and 24h before a deletion, or half the idleTimeout / deleteAfter if shorter.
   */
  notifications: z
    .strictObject({ suspendWarning: warningLead.optional(), deleteWarning: warningLead.optional() })
    .default({}),
  /** Scripts run on the lab over SSH around its transitions; a failure never holds the lab up. */
  hooks: z
    .strictObject({
      postResume: hookSchema.optional(),
      preSuspend: hookSchema.optional(),
      /** `resumeSuspended`: resume a suspended stack to run the hook before deleting it (off: skipped). */
      preDelete: hookSchema.extend({ resumeSuspended: z.boolean().default(false) }).optional(),
    })
    .default({}),
  /** What a stack of this lab costs, for the usage report's estimates (absent: no cost shown). */
  cost: z
    .strictObject({
      runningPerHour: z.number().min(0, 'must be 0 or more'),
      suspendedPerHour: z.number().min(0, 'must be 0 or more').default(0),
      currency: z
        .string()
        .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD')
        .default('USD'),
    })
    .optional(),
});

/**
 * A cap on the running lab time one learner is charged with, over a window: per lab, per course
 * (all its labs) or across the site. `breach` says what happens when it is used up.
 */
const usageLimitSchema = z.strictObject({
  scope: z.enum(['site', 'course', 'lab'], { error: 'must be site, course or lab' }),
  /** Only labs of these courses (every course when absent). */
  courses: z.array(z.string().min(1)).min(1).optional(),
  /** Only these labs (every lab when absent). */
  labs: z.array(z.string().min(1)).min(1).optional(),
  limit: positiveDuration,
  window: z
    .string()
    .regex(/^(course|[1-9][0-9]{0,3}d)$/, 'must be "course" or a number of days such as "30d"')
    .default('course'),
  breach: z.enum(['warn', 'block', 'suspend'], { error: 'must be warn, block or suspend' }),
  warnAt: z
    .number()
    .gt(0, 'must be more than 0')
    .max(1, 'must be at most 1 (a fraction of the limit)')
    .default(0.8),
});

/** A token bucket: sustained requests a second, and how many may come at once before it applies. */
const rateLimit = z.strictObject({
  perSecond: z.number().positive('must be more than 0'),
  burst: z.number().int().min(1, 'must be 1 or more'),
});

const DEFAULT_RATE_LIMITS = {
  perToken: { perSecond: 500, burst: 1000 },
  perLab: { perSecond: 5, burst: 50 },
  perLearner: { perSecond: 5, burst: 50 },
};

/**
 * Every learner's calls come through the LMS's one service token, so a limit per token alone
 * lets one learner's page in a loop refuse the whole site: under a service token each lab and
 * each learner has a bucket of its own, and the token a generous ceiling against a runaway LMS.
 */
const rateLimits = z
  .strictObject({
    perToken: rateLimit.default(() => ({ ...DEFAULT_RATE_LIMITS.perToken })),
    perLab: rateLimit.default(() => ({ ...DEFAULT_RATE_LIMITS.perLab })),
    perLearner: rateLimit.default(() => ({ ...DEFAULT_RATE_LIMITS.perLearner })),
  })
  .default(() => structuredClone(DEFAULT_RATE_LIMITS));

const DEFAULT_METRICS_REFRESH = 15_000;

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable');

/** A webhook endpoint: lifecycle events POSTed to `url`, signed by the Standard Webhooks rules. */
const webhookSchema = z.strictObject({
  name: z
    .string()
    .regex(
      /^[a-z][a-z0-9-]{0,62}$/,
      'must be lowercase letters, digits and "-", starting with a letter',
    ),
  url: z.string().min(1),
  /** Holds the signing secret (whsec_...); during a rotation, the new and the old separated by a space. */
  secretEnv: envName,
  events: z
    .array(
      z.enum([...EVENT_TYPES, '*'], { error: `must be one of ${EVENT_TYPES.join(', ')}, or "*"` }),
    )
    .min(1, 'must list at least one event (or "*")'),
  /** Only these labs' events (all labs when absent). */
  labs: z.array(z.string().min(1)).min(1).optional(),
});

/** The Standard Webhooks retry schedule: the pauses after the first attempt. */
export const DEFAULT_RETRY_SCHEDULE = [
  '5s',
  '5m',
  '30m',
  '2h',
  '5h',
  '10h',
  '14h',
  '20h',
  '24h',
].map((d) => parseDuration(d)!);
const DEFAULT_WEBHOOK_DELIVERY = {
  retrySchedule: DEFAULT_RETRY_SCHEDULE,
  timeout: 15_000,
  internalHosts: [] as string[],
};

export const configSchema = z.strictObject({
  temporal: z
    .strictObject({
      address: hostPort,
      namespace: z.string().min(1).default('default'),
      taskQueue: z.string().min(1).default('labs'),
    })
    .optional(),
  mongodb: z
    .strictObject({ uri: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// URI') })
    .optional(),
  api: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      /** Heartbeats are written to Mongo at most once per lab per this interval (coalesced). */
      heartbeatFlush: positiveDuration.default(5000),
      /** Browser origins (the LMS) that may send heartbeats directly: CORS on that route only. */
      corsOrigins: z
        .array(
          z
            .string()
            .regex(
              /^(\*|https?:\/\/[^/\s]+)$/,
              'must be an origin such as https://lms.example.org (no path), or "*"',
            ),
        )
        .default([]),
      rateLimit: rateLimits,
      /** How often the API re-reads the figures /metrics serves (a scrape never queries MongoDB). */
      metricsRefresh: positiveDuration.default(DEFAULT_METRICS_REFRESH),
    })
    .default(() => ({
      host: '127.0.0.1',
      port: 8080,
      heartbeatFlush: 5000,
      corsOrigins: [],
      rateLimit: structuredClone(DEFAULT_RATE_LIMITS),
      metricsRefresh: DEFAULT_METRICS_REFRESH,
    })),
  emulator: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(5000),
      createDelay: duration.default(2000),
    })
    .optional(),
  /** `npm start` only: a learner's page (the XBlock's student view) to try a lab in the browser. */
  demoPage: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(8090),
      lab: z.string().min(1),
    })
    .optional(),
  worker: z
    .strictObject({
      /**
       * Lab workflows a worker keeps in memory between their tasks (~0.3 MiB each). Beyond it
       * the least recently used is evicted and replayed from its history at its next wake-up,
       * which for a lab is minutes to hours away: a bound on RSS that costs a short replay.
       */
      maxCachedWorkflows: z.number().int().min(1).default(1000),
    })
    .default({ maxCachedWorkflows: 1000 }),
  /** How often a waiting lab re-reads its policy, so an operator's change reaches labs with long timers armed. */
  policyRefresh: positiveDuration.default(6 * 3_600_000),
  /** How long records are kept; the worker's maintenance workflow sweeps every `sweepEvery`. */
  retention: z
    .strictObject({
      events: positiveDuration.default(400 * DAY_MS),
      /** A deleted lab answers GET (state `deleted`) this long, then its documents go. */
      deletedLabs: positiveDuration.default(30 * DAY_MS),
      /** Pool claims, misses and ended pool stacks. */
      poolRecords: positiveDuration.default(30 * DAY_MS),
      /** Webhook deliveries that ended (sent, failed, gone); a pending one stays. */
      webhookDeliveries: positiveDuration.default(30 * DAY_MS),
      sweepEvery: duration.refine((ms) => ms >= 1000, 'must be at least 1s').default(DAY_MS),
    })
    .default({
      events: 400 * DAY_MS,
      deletedLabs: 30 * DAY_MS,
      poolRecords: 30 * DAY_MS,
      webhookDeliveries: 30 * DAY_MS,
      sweepEvery: DAY_MS,
    }),
  webhooks: z.array(webhookSchema).default([]),
  usageLimits: z.array(usageLimitSchema).default([]),
  webhookDelivery: z
    .strictObject({
      /** Pauses between attempts (a Retry-After longer than the pause is honoured); then it fails. */
      retrySchedule: z.array(duration).default(() => [...DEFAULT_RETRY_SCHEDULE]),
      /**
       * One attempt's deadline: connect, send, and the answer's status line. At most a minute:
       * the attempt's activity has three (workflows/webhook-delivery.ts).
       */
      timeout: positiveDuration
        .refine((ms) => ms <= 60_000, 'must be at most 1m')
        .default(DEFAULT_WEBHOOK_DELIVERY.timeout),
      /** Hosts plain http may reach besides loopback addresses (services inside the cluster). */
      internalHosts: z.array(z.string().min(1)).default([]),
    })
    .default(() => structuredClone(DEFAULT_WEBHOOK_DELIVERY)),
  providers: z.array(providerSchema).min(1, 'must list at least one provider'),
  labs: z.record(
    z.string().regex(labNamePattern, 'lab names are lowercase letters, digits and "-"'),
    labSchema,
  ),
});

export type RawConfig = z.output<typeof configSchema>;
export type RawProvider = z.output<typeof providerSchema>;
export type RawLab = z.output<typeof labSchema>;

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
