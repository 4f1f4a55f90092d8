import SwaggerParser from '@apidevtools/swagger-parser';
import { parse } from 'csv-parse/sync';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openApiDocument } from '../../src/api/openapi/document';
import type { Config } from '../../src/config';
import type { LabDocument } from '../../src/store';
import type { LedgerLine } from '../../src/store/usage';
import type { UsageReportRow } from '../../src/usage/report';
import { daysBefore, dayOf } from '../../workflows/usage';
import type { LabState } from '../../workflows/state';
import { labctl } from '../support/labctl';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { ADMIN_TOKEN, startApiEnv, type ApiEnv } from './api-env';

const H = 3_600_000;
const COURSE = 'course-v1:Org+Report101+2026';
const OTHER = 'course-v1:Org+Other101+2026';
const LIVE = 'course-v1:Org+Live101+2026';
/** Learner ids may hold commas and quotes: the CSV must quote them. */
const QUOTED = 'anon,"quoted"';
const RANGE = { from: '2026-01-10', to: '2026-01-11' };
const CSV = { Accept: 'text/csv' };

interface ReportBody {
  courseId: string | null;
  from: string;
  to: string;
  groupBy: string;
  asOf: string;
  rows: UsageReportRow[];
  total: UsageReportRow;
}

const line = (
  labId: string,
  lab: string,
  courseId: string,
  learnerId: string,
  day: string,
  hours: { running?: number; suspended?: number; charged?: number },
): LedgerLine => ({
  _id: `${labId}|${day}`,
  labId,
  courseId,
  learnerId,
  lab,
  day,
  runningMs: (hours.running ?? 0) * H,
  suspendedMs: (hours.suspended ?? 0) * H,
  chargedMs: (hours.charged ?? 0) * H,
  seq: 1,
});

const labDoc = (
  id: string,
  owner: { courseId: string; learnerId: string; lab: string },
  state: LabState,
  lastEventAt: Date,
): LabDocument => ({
  _id: id,
  ...owner,
  state,
  generation: 1,
  provider: 'cloud-a',
  stack: null,
  outputs: {},
  progress: null,
  error: null,
  createdAt: lastEventAt,
  updatedAt: lastEventAt,
  lifeStartedAt: lastEventAt,
  readyAt: null,
  suspendedAt: null,
  deletedAt: null,
  seq: 1,
  lastEventAt,
  charge: 'learner',
});

/**
 * The usage report over the real API and store: the ledger and the labs are seeded directly, so
 * every figure is known. demo costs 0.2 USD/h running and 0.02 suspended, shell 0.4 and 0.04.
 */
describe('GET /v1/reports/usage', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  const report = (params: Record<string, string>, headers: Record<string, string> = {}) =>
    t.service.get<ReportBody>('/v1/reports/usage', { params, headers });
  const csvOf = async (params: Record<string, string>) => {
    const res = await t.service.get<string>('/v1/reports/usage', {
      params,
      headers: CSV,
      responseType: 'text',
    });
    expect(res.status).toBe(200);
    return res;
  };

  beforeAll(async () => {
    lab = await startLabEnv();
    const { demo, shell } = lab.config.labs;
    const config: Config = {
      ...lab.config,
      labs: {
        ...lab.config.labs,
        demo: { ...demo!, cost: { runningPerHour: 0.2, suspendedPerHour: 0.02, currency: 'USD' } },
        shell: {
          ...shell!,
          cost: { runningPerHour: 0.4, suspendedPerHour: 0.04, currency: 'USD' },
        },
      },
    };
    t = await startApiEnv({}, {}, { ...lab, config });

    const { store } = lab;
    await store.usage.ledger.insertMany([
      line('lab_r1', 'demo', COURSE, QUOTED, '2026-01-09', { running: 50, charged: 50 }), // before
      line('lab_r1', 'demo', COURSE, QUOTED, '2026-01-10', {
        running: 2,
        suspended: 4,
        charged: 2,
      }),
      line('lab_r1', 'demo', COURSE, QUOTED, '2026-01-11', { running: 1 }), // a staff retry
      line('lab_r2', 'shell', COURSE, 'anon-plain', '2026-01-11', { running: 3, charged: 3 }),
      line('lab_r3', 'demo', OTHER, 'anon-other', '2026-01-10', { running: 5, charged: 5 }),
    ]);
    await store.labs.collection.insertMany([
      labDoc(
        'lab_r1',
        { courseId: COURSE, learnerId: QUOTED, lab: 'demo' },
        'deleted',
        new Date('2026-01-11T05:00:00Z'),
      ),
      // Suspended since 20:00 on the range's last day: 4 h of it in the range.
      labDoc(
        'lab_r2',
        { courseId: COURSE, learnerId: 'anon-plain', lab: 'shell' },
        'suspended',
        new Date('2026-01-11T20:00:00Z'),
      ),
      labDoc(
        'lab_r3',
        { courseId: OTHER, learnerId: 'anon-other', lab: 'demo' },
        'deleted',
        new Date('2026-01-10T06:00:00Z'),
      ),
    ]);
    await store.usage.addActive('test', [
      { labId: 'lab_r1', courseId: COURSE, day: '2026-01-10', ms: 0.5 * H },
    ]);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await lab?.close();
  });

  it("sums a course's ledger and open intervals by lab, with costs (JSON by default)", async () => {
    const res = await report({ courseId: COURSE, ...RANGE });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.data).toMatchObject({ courseId: COURSE, ...RANGE, groupBy: 'lab' });
    expect(res.data.rows).toEqual([
      {
        key: 'demo',
        runningHours: 3,
        suspendedHours: 4,
        chargedHours: 2,
        staffHours: 1,
        activeHours: 0.5,
        labs: 1,
        learners: 1,
        cost: { currency: 'USD', estimated: 0.68, alwaysOn: 1.4, saving: 0.72 },
        note: null,
      },
      {
        key: 'shell',
        runningHours: 3,
        suspendedHours: 4,
        chargedHours: 3,
        staffHours: 0,
        activeHours: 0,
        labs: 1,
        learners: 1,
        cost: { currency: 'USD', estimated: 1.36, alwaysOn: 2.8, saving: 1.44 },
        note: null,
      },
    ]);
    expect(res.data.total).toEqual({
      key: 'total',
      runningHours: 6,
      suspendedHours: 8,
      chargedHours: 5,
      staffHours: 1,
      activeHours: 0.5,
      labs: 2,
      learners: 2,
      cost: { currency: 'USD', estimated: 2.04, alwaysOn: 4.2, saving: 2.16 },
      note: null,
    });

    // Every course: the other course's lab joins demo's row.
    const all = await t.admin.get<ReportBody>('/v1/reports/usage', { params: RANGE });
    expect(all.status).toBe(200);
    expect(all.data.courseId).toBeNull();
    expect(all.data.rows.find((r) => r.key === 'demo')).toMatchObject({
      runningHours: 8,
      chargedHours: 7,
      labs: 2,
      learners: 2,
    });
  });

  it('answers CSV for Accept: text/csv, quoting learner ids, with a total line', async () => {
    const params = { courseId: COURSE, ...RANGE, groupBy: 'learner' };
    const [json, res] = await Promise.all([report(params), csvOf(params)]);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers.vary).toMatch(/Accept/);
    expect(res.data).toContain('"anon,""quoted"""');

    const records = parse(res.data, { columns: true }) as Array<Record<string, string>>;
    expect(records.map((r) => r.learner)).toEqual([QUOTED, 'anon-plain', 'total']);
    const expected = [...json.data.rows, json.data.total].map((row) => ({
      learner: row.key,
      runningHours: String(row.runningHours),
      suspendedHours: String(row.suspendedHours),
      chargedHours: String(row.chargedHours),
      staffHours: String(row.staffHours),
      activeHours: String(row.activeHours),
      labs: String(row.labs),
      learners: String(row.learners),
      currency: row.cost?.currency ?? '',
      estimatedCost: String(row.cost?.estimated ?? ''),
      alwaysOnCost: String(row.cost?.alwaysOn ?? ''),
      saving: String(row.cost?.saving ?? ''),
      note: row.note ?? '',
    }));
    expect(records).toEqual(expected);
    expect(records[0]).toMatchObject({ runningHours: '3', staffHours: '1', activeHours: '0.5' });
  });

  it('counts a running lab up to now, over the last 30 days by default', async () => {
    const since = Date.now() - H;
    await lab.store.labs.collection.insertOne(
      labDoc(
        'lab_live',
        { courseId: LIVE, learnerId: 'anon-live', lab: 'demo' },
        'ready',
        new Date(since),
      ),
    );
    const res = await report({ courseId: LIVE, groupBy: 'day' });
    expect(res.status).toBe(200);
    const today = dayOf(Date.parse(res.data.asOf));
    expect(res.data).toMatchObject({ from: daysBefore(today, 29), to: today, groupBy: 'day' });
    const ranHours = (Date.parse(res.data.asOf) - since) / H;
    expect(res.data.total.runningHours).toBeCloseTo(ranHours, 3);
    expect(res.data.total.chargedHours).toBeCloseTo(ranHours, 3);
    // The hour is cut at midnight when it spans one.
    expect(res.data.rows.map((r) => r.key)).toEqual([...new Set([dayOf(since), today])].sort());
  });

  it.each([
    [{ from: '2026-1-10' }, 'from', /must be a date YYYY-MM-DD/],
    [{ to: '2026-02-30' }, 'to', /must be a real date/],
    [{ to: '2026-13-01' }, 'to', /must be a real date/],
    [{ from: '2026-01-12', to: '2026-01-11' }, 'from', /on or before to \(2026-01-11\)/],
    [{ groupBy: 'course' }, 'groupBy', /must be lab, learner, day/],
    [{ courseId: 'not a course' }, 'courseId', /course key/],
    [{ limit: '5' }, 'limit', /.+/],
  ])('refuses %j with a 400 naming %s', async (params, field, message) => {
    const res = await t.service.get<{ error: { message: string; details: { field: string } } }>(
      '/v1/reports/usage',
      { params },
    );
    expect(res.status).toBe(400);
    expect(res.data.error.details.field).toBe(field);
    expect(res.data.error.message).toContain(`"${field}"`);
    expect(res.data.error.message).toMatch(message);
  });

  it('is documented with both media types of its 200', async () => {
    const document = openApiDocument(t.api.routes, 'test') as {
      paths: Record<string, { get: { responses: Record<string, { content: object }> } }>;
    };
    await SwaggerParser.validate(structuredClone(document) as never);
    const answers = document.paths['/v1/reports/usage']!.get.responses;
    expect(Object.keys(answers['200']!.content).sort()).toEqual(['application/json', 'text/csv']);
    expect(Object.keys(answers).sort()).toEqual(['200', '400', '401', '403', '429', '503']);
  });

  it('needs a service or admin token', async () => {
    expect((await t.http.get('/v1/reports/usage')).status).toBe(401);
  });

  it('labctl report prints the table, and --csv the CSV byte for byte', async () => {
    const env = { LABCTL_URL: t.url, LABCTL_TOKEN: ADMIN_TOKEN };
    const args = ['--course', COURSE, '--from', RANGE.from, '--to', RANGE.to];
    const table = await labctl(['report', ...args, '--group-by', 'learner'], env);
    expect(table.code).toBe(0);
    const [title, header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(title).toContain(`usage of ${COURSE} from 2026-01-10 to 2026-01-11, by learner`);
    expect(header).toMatch(/^LEARNER\s+RUNNING\s+SUSPENDED\s+CHARGED\s+STAFF\s+ACTIVE\s+LABS/);
    expect(rows).toEqual([
      expect.stringMatching(
        /^anon,"quoted"\s+3\.00\s+4\.00\s+2\.00\s+1\.00\s+0\.50\s+1\s+1\s+0\.68 USD\s+1\.40 USD\s+0\.72 USD$/,
      ),
      expect.stringMatching(
        /^anon-plain\s+3\.00\s+4\.00\s+3\.00\s+0\.00\s+0\.00\s+1\s+1\s+1\.36 USD/,
      ),
      expect.stringMatching(/^total\s+6\.00\s+8\.00\s+5\.00\s+1\.00\s+0\.50\s+2\s+2\s+2\.04 USD/),
    ]);

    const csv = await labctl(['report', ...args, '--csv'], env);
    expect(csv.code).toBe(0);
    const api = await csvOf({ courseId: COURSE, ...RANGE });
    expect(csv.stdout).toBe(api.data);

    const bad = await labctl(['report', ...args, '--group-by', 'course'], env);
    expect(bad.code).toBe(2);
  });
});

/** What labctl's usage commands send, against a stand-in for the API's usage routes. */
describe('labctl usage', () => {
  const LAB_ID = `lab_${'a'.repeat(26)}`;
  const GRANT = {
    id: 'grant_1',
    courseId: COURSE,
    learnerId: QUOTED,
    lab: 'demo',
    extraSeconds: 5 * 3600,
    reason: 'exam retake',
    grantedBy: 'admin:0123456789abcdef',
    at: '2026-01-11T10:00:00.000Z',
  };
  const requests: Array<{ method: string; url: string; body: unknown }> = [];
  let server: Server;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        requests.push({
          method: req.method ?? '',
          url: req.url ?? '',
          body: text ? (JSON.parse(text) as unknown) : undefined,
        });
        const answer = (status: number, body: unknown) => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (req.method === 'POST' && path === '/v1/usage/rebuild')
          answer(200, { labs: 3, lines: 12, skipped: 1 });
        else if (req.method === 'POST' && path === '/v1/usage/grants') answer(201, GRANT);
        else if (req.method === 'GET' && path === '/v1/usage/grants')
          answer(200, { grants: [GRANT] });
        else answer(404, { error: { code: 'not_found', message: 'no route' } });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    env = {
      LABCTL_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      LABCTL_TOKEN: ADMIN_TOKEN,
    };
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => void (requests.length = 0));

  it('usage rebuild posts {labId?} and prints the counts', async () => {
    const all = await labctl(['usage', 'rebuild'], env);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('3 lab(s): 12 line(s) written, 1 lab(s) skipped');
    const one = await labctl(['usage', 'rebuild', '--lab', LAB_ID, '--json'], env);
    expect(JSON.parse(one.stdout)).toEqual({ labs: 3, lines: 12, skipped: 1 });
    expect(requests).toEqual([
      { method: 'POST', url: '/v1/usage/rebuild', body: {} },
      { method: 'POST', url: '/v1/usage/rebuild', body: { labId: LAB_ID } },
    ]);
  });

  it('usage grant posts the grant; a bad duration is a usage error', async () => {
    const run = await labctl(
      ['usage', 'grant', '--course', COURSE, '--learner', QUOTED, '--lab', 'demo'].concat([
        '--extra',
        '5h',
        '--reason',
        'exam retake',
      ]),
      env,
    );
    expect(run.code).toBe(0);
    expect(requests).toEqual([
      {
        method: 'POST',
        url: '/v1/usage/grants',
        body: {
          courseId: COURSE,
          learnerId: QUOTED,
          lab: 'demo',
          extra: '5h',
          reason: 'exam retake',
        },
      },
    ]);
    expect(run.stdout).toMatch(/anon,"quoted"\s+demo\s+5h\s+admin:0123456789abcdef\s+exam retake/);

    const bad = await labctl(
      [
        'usage',
        'grant',
        '--course',
        COURSE,
        '--learner',
        'x',
        '--extra',
        '5 hours',
        '--reason',
        'r',
      ],
      env,
    );
    expect(bad.code).toBe(2);
    expect(requests).toHaveLength(1);
  });

  it('usage grants lists a course’s (or a learner’s) grants', async () => {
    const run = await labctl(['usage', 'grants', '--course', COURSE, '--learner', QUOTED], env);
    expect(run.code).toBe(0);
    const url = new URL(requests[0]!.url, 'http://x');
    expect([requests[0]!.method, url.pathname]).toEqual(['GET', '/v1/usage/grants']);
    expect(Object.fromEntries(url.searchParams)).toEqual({ courseId: COURSE, learnerId: QUOTED });
    expect(run.stdout.split('\n')[0]).toMatch(
      /^AT\s+COURSE\s+LEARNER\s+LAB\s+EXTRA\s+GRANTED BY\s+REASON$/,
    );
  });
});
