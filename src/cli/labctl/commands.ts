import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration, type LabctlEnvironment } from '../../config';
import { LAB_STATES } from '../../../workflows/state';
import { DELIVERY_STATES } from '../../store/deliveries';
import { LAB_ID_PATTERN } from '../../temporal/ids';
import { GROUP_BYS, type GroupBy } from '../../usage/report';
import { LabsApiClient, type Lab, type LabAction } from './api-client';
import { CliError, EXIT, usageError } from './exit-codes';
import {
  checkRunDetails,
  checkRunsTable,
  deliveriesTable,
  labDetails,
  labsTable,
  providersTable,
  usageGrantsTable,
  usageRebuildText,
  usageReportTable,
  workflowUrl,
} from './format';
import type { Io } from './io';
import { waitUntilSettled } from './wait';

interface GlobalOptions {
  url: string;
  token?: string;
  ui: string;
  namespace: string;
}

const integer = (min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
  return n;
};

const duration = (value: string) => {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError('must be a duration such as "90s", "15m" or "1h"');
  return ms;
};

/** What the API takes as a duration ("5h"): checked here so a typo is a usage error. */
const durationText = (value: string) => {
  duration(value);
  return value;
};

const day = (value: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value))
    throw new InvalidArgumentError('must be a date YYYY-MM-DD');
  return value;
};

const labId = (value: string) => {
  if (!LAB_ID_PATTERN.test(value))
    throw new InvalidArgumentError('must be a lab id: lab_ followed by 26 characters a-z, 2-7');
  return value;
};

/** One command per lab action: a Record, so an action added to the workflow needs a line here. */
const ACTION_SUMMARIES: Record<LabAction, string> = {
  retry: 'retry a failed lab: a new attempt under a new stack name',
  reset: 'delete the stack and build a fresh one (ready, suspended, failed)',
  suspend: 'suspend the lab now (the learner resumes it by coming back)',
  delete: 'delete the stack and end the lab',
};
const ACTIONS = (Object.keys(ACTION_SUMMARIES) as LabAction[]).map((action) => ({
  action,
  summary: ACTION_SUMMARIES[action],
}));

/**
 * labctl's commands, over the HTTP API with an admin token. Results go to stdout (a table, or
 * JSON with --json), messages and --wait progress to stderr; exit codes are in exit-codes.ts.
 */
export function buildProgram(env: LabctlEnvironment, io: Io): Command {
  const program = new Command('labctl')
    .description('Support staff CLI of the Open edX lab orchestrator (over its HTTP API)')
    .addOption(new Option('--url <url>', 'API base URL (LABCTL_URL)').default(env.apiUrl))
    .addOption(new Option('--token <token>', 'admin token (prefer LABCTL_TOKEN: flags show in ps)'))
    .addOption(
      new Option('--ui <url>', 'Temporal UI base URL (LABCTL_TEMPORAL_UI)').default(env.temporalUi),
    )
    .addOption(
      new Option('--namespace <name>', 'Temporal namespace (LABCTL_TEMPORAL_NAMESPACE)').default(
        env.namespace,
      ),
    )
    .showHelpAfterError('(labctl --help lists the commands)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  const client = (): LabsApiClient => {
    const options = program.opts<GlobalOptions>();
    const token = options.token ?? env.token;
    if (!token) throw usageError('no admin token: set LABCTL_TOKEN (one of LABS_ADMIN_TOKENS)');
    return new LabsApiClient(options.url, token);
  };
  const print = (json: boolean | undefined, value: unknown, text: () => string) =>
    io.out(json ? JSON.stringify(value, null, 2) : text());

  program
    .command('list')
    .description('list labs, newest first (filters combine)')
    .option('--course <courseId>', 'course key, e.g. course-v1:Org+Course+Run')
    .option('--learner <learnerId>', "learner's anonymous id")
    .option('--lab <name>', 'lab name of the catalog')
    .addOption(new Option('--state <state>', 'lab state').choices([...LAB_STATES]))
    .option('--limit <n>', 'labs per page (1-500)', integer(1, 500), 50)
    .option('--cursor <cursor>', 'continue after a previous page (its nextCursor)')
    .option('--all', 'follow every page')
    .option('--json', 'JSON instead of a table')
    .option('-q, --quiet', 'only lab ids, one a line (for xargs)')
    .action(async (o: ListOptions) => {
      const api = client();
      const query = {
        courseId: o.course,
        learnerId: o.learner,
        lab: o.lab,
        state: o.state,
        limit: o.limit,
        cursor: o.cursor,
      };
      const labs: Lab[] = [];
      let page = await api.listLabs(query);
      labs.push(...page.labs);
      while (o.all && page.nextCursor) {
        page = await api.listLabs({ ...query, cursor: page.nextCursor });
        labs.push(...page.labs);
      }
      if (o.quiet && !o.json) {
        if (labs.length > 0) io.out(labs.map((lab) => lab.id).join('\n'));
      } else
        print(o.json, { labs, nextCursor: page.nextCursor }, () =>
          labs.length === 0 ? '(no labs)' : labsTable(labs),
        );
      if (!o.json && page.nextCursor)
        io.err(`more labs: add --all, or --cursor ${page.nextCursor} for the next page`);
    });

  program
    .command('show')
    .description('a lab, its recent audit events and its workflow in Temporal UI')
    .argument('<id>', 'lab id (lab_...)', labId)
    .option('--events <n>', 'how many recent events (1-200)', integer(1, 200), 20)
    .option('--json', 'JSON instead of text')
    .action(async (id: string, o: { events: number; json?: boolean }) => {
      const api = client();
      const [lab, events] = await Promise.all([api.getLab(id), api.labEvents(id, o.events)]);
      const { ui, namespace } = program.opts<GlobalOptions>();
      const link = workflowUrl(ui, namespace, id);
      print(o.json, { lab, events, temporalUi: link }, () => labDetails(lab, events, link));
    });

  for (const { action, summary } of ACTIONS) {
    program
      .command(action)
      .description(summary)
      .argument('<id>', 'lab id (lab_...)', labId)
      .option('--wait', 'wait until the lab settles, showing progress')
      .option(
        '--timeout <duration>',
        'with --wait: give up after (e.g. 90s, 15m)',
        duration,
        1_800_000,
      )
      .option('--json', 'print the lab as JSON')
      .action(async (id: string, o: { wait?: boolean; timeout: number; json?: boolean }) => {
        const api = client();
        // The lab before acting, so --wait can tell the action's effect from the old state.
        const before = o.wait ? await api.getLab(id) : null;
        let lab = await api.act(id, action);
        io.err(`${action}: accepted for ${id} (now ${lab.state})`);
        if (o.wait)
          lab = await waitUntilSettled({
            client: api,
            action,
            before,
            answer: lab,
            timeoutMs: o.timeout,
            io,
          });
        print(o.json, lab, () => labsTable([lab]));
      });
  }

  program
    .command('checks')
    .description("a lab's graded check runs, newest first")
    .argument('<id>', 'lab id (lab_...)', labId)
    .option('--limit <n>', 'how many runs (1-50)', integer(1, 50), 20)
    .option('--json', 'JSON instead of a table')
    .action(async (id: string, o: { limit: number; json?: boolean }) => {
      const runs = await client().checkRuns(id, o.limit);
      print(o.json, { checks: runs }, () =>
        runs.length === 0 ? '(no check runs)' : checkRunsTable(runs),
      );
    });

  program
    .command('check')
    .description("run a ready lab's graded checks (or show the run in progress)")
    .argument('<id>', 'lab id (lab_...)', labId)
    .option('--wait', 'wait for the run to finish')
    .option('--json', 'print the run as JSON')
    .action(async (id: string, o: { wait?: boolean; json?: boolean }) => {
      const api = client();
      let run = await api.runChecks(id);
      io.err(`checks: ${run.id} running on ${id}`);
      while (o.wait && run.state === 'running') run = await api.checkRun(id, run.id, 30);
      print(o.json, run, () => checkRunDetails(run));
      if (o.wait && run.state === 'error')
        throw new CliError(`checks could not run: ${run.error}`, EXIT.labFailed);
    });

  program
    .command('deliveries')
    .description(
      'webhook deliveries, newest first: sent, pending (with the next attempt), failed, gone',
    )
    .addOption(new Option('--lab <id>', 'only this lab’s').argParser(labId))
    .addOption(new Option('--state <state>', 'delivery state').choices([...DELIVERY_STATES]))
    .option('--endpoint <name>', 'only this endpoint’s')
    .option('--limit <n>', 'how many (1-500)', integer(1, 500), 50)
    .option('--json', 'JSON instead of a table')
    .action(
      async (o: {
        lab?: string;
        state?: string;
        endpoint?: string;
        limit: number;
        json?: boolean;
      }) => {
        const deliveries = await client().deliveries({
          labId: o.lab,
          state: o.state,
          endpoint: o.endpoint,
          limit: o.limit,
        });
        print(o.json, { deliveries }, () =>
          deliveries.length === 0 ? '(no webhook deliveries)' : deliveriesTable(deliveries),
        );
      },
    );

  program
    .command('report')
    .description('lab time and cost of a course over a range of days (default: the last 30)')
    .requiredOption('--course <courseId>', 'course key, e.g. course-v1:Org+Course+Run')
    .addOption(new Option('--from <day>', 'first day, UTC (YYYY-MM-DD)').argParser(day))
    .addOption(new Option('--to <day>', 'last day, UTC, included (default: today)').argParser(day))
    .addOption(
      new Option('--group-by <what>', 'one row per lab, learner or day')
        .choices([...GROUP_BYS])
        .default('lab'),
    )
    .addOption(new Option('--csv', 'the CSV the API answers').conflicts('json'))
    .option('--json', 'JSON instead of a table')
    .action(
      async (o: {
        course: string;
        from?: string;
        to?: string;
        groupBy: GroupBy;
        csv?: boolean;
        json?: boolean;
      }) => {
        const api = client();
        const query = { courseId: o.course, from: o.from, to: o.to, groupBy: o.groupBy };
        // The API's CSV byte for byte (one renderer, src/usage/report.ts): its lines end in CRLF,
        // and io.out adds the last LF back.
        if (o.csv) return io.out((await api.usageReportCsv(query)).replace(/\n$/, ''));
        const report = await api.usageReport(query);
        print(o.json, report, () => usageReportTable(report));
      },
    );

  const usage = program
    .command('usage')
    .description('usage limits: extra time for a learner, the ledger rebuilt from the audit trail');

  usage
    .command('rebuild')
    .description("rebuild the usage ledger from the labs' audit trails (idempotent)")
    .addOption(new Option('--lab <id>', 'only this lab').argParser(labId))
    .option('--json', 'JSON instead of text')
    .action(async (o: { lab?: string; json?: boolean }) => {
      const result = await client().rebuildUsage(o.lab);
      print(o.json, result, () => usageRebuildText(result));
    });

  usage
    .command('grant')
    .description('give a learner extra running time over their usage limits (audited)')
    .requiredOption('--course <courseId>', 'course key')
    .requiredOption('--learner <learnerId>', "learner's anonymous id")
    .option('--lab <name>', "only this lab's limits (default: every lab of the course)")
    .requiredOption('--extra <duration>', 'extra running time, e.g. 5h or 90m', durationText)
    .requiredOption('--reason <text>', 'why (kept with the grant)')
    .option('--json', 'print the grant as JSON')
    .action(
      async (o: {
        course: string;
        learner: string;
        lab?: string;
        extra: string;
        reason: string;
        json?: boolean;
      }) => {
        const grant = await client().grantUsage({
          courseId: o.course,
          learnerId: o.learner,
          ...(o.lab !== undefined ? { lab: o.lab } : {}),
          extra: o.extra,
          reason: o.reason,
        });
        io.err(`usage grant: ${grant.id}`);
        print(o.json, grant, () => usageGrantsTable([grant]));
      },
    );

  usage
    .command('grants')
    .description("a course's usage grants, newest first (or one learner's)")
    .requiredOption('--course <courseId>', 'course key')
    .option('--learner <learnerId>', "only this learner's")
    .option('--json', 'JSON instead of a table')
    .action(async (o: { course: string; learner?: string; json?: boolean }) => {
      const grants = await client().usageGrants({ courseId: o.course, learnerId: o.learner });
      print(o.json, { grants }, () =>
        grants.length === 0 ? '(no usage grants)' : usageGrantsTable(grants),
      );
    });

  program
    .command('providers')
    .description('providers: capacity, stacks in use, labs queued')
    .option('--json', 'JSON instead of a table')
    .action(async (o: { json?: boolean }) => {
      const providers = await client().providers();
      print(o.json, { providers }, () => providersTable(providers));
    });

  program.addHelpText(
    'after',
    `
Environment: LABCTL_URL (default http://127.0.0.1:8080), LABCTL_TOKEN (an admin token),
LABCTL_TEMPORAL_UI (default http://127.0.0.1:8233), LABCTL_TEMPORAL_NAMESPACE (default default).
Exit codes: ${EXIT.ok} ok, ${EXIT.apiError} API refused (4xx), ${EXIT.usage} usage, ${EXIT.unavailable} API unreachable or 5xx,
${EXIT.labFailed} lab failed under --wait, ${EXIT.timedOut} --wait timed out.`,
  );
  return program;
}

interface ListOptions {
  course?: string;
  learner?: string;
  lab?: string;
  state?: string;
  limit: number;
  cursor?: string;
  all?: boolean;
  json?: boolean;
  quiet?: boolean;
}
