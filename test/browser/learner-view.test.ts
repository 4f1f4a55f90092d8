import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { eventually, SERVICE_TOKEN, startApiEnv, type ApiEnv } from '../api/api-env';

/**
 * The XBlock against the running API (the real app over the emulator, Temporal and Mongo):
 * its pytest handler suite, then the learner view in headless Chromium (Debian's, driven by
 * playwright-core: no browser download). Run by `scripts/test-browser.sh`, which installs
 * Chromium when it is missing and sets LABS_BROWSER_TEST.
 */

const ROOT = resolve(__dirname, '../..');
const PYTHON_BIN = join(ROOT, '.tools/xblock-venv/bin');
/** The course of the XBlock test runtime's unit (xblock/tests/conftest.py). */
const COURSE = 'course-v1:OpenCraft+Linux101+2026';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Short enough that the page's warning (last three minutes) shows as soon as the lab is ready. */
const IDLE_TIMEOUT_MS = 40_000;
/** `docs/learner-view.png` when LABS_SCREENSHOT=docs, else a temporary file. */
const SCREENSHOT =
  process.env.LABS_SCREENSHOT === 'docs'
    ? join(ROOT, 'docs/learner-view.png')
    : join(tmpdir(), `learner-view-${process.pid}.png`);

interface Lab {
  id: string;
  state: string;
  lastActivityAt: string | null;
  suspendAt: string | null;
}

/** Sum of one metric's samples in the API's Prometheus text. */
async function metric(t: ApiEnv, name: string): Promise<number> {
  const text = (await t.http.get<string>('/metrics', { responseType: 'text' })).data;
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
  });
}

/** The learner page server: its port first, then it waits for the XBlock settings on stdin. */
async function startPage(anonymousId: string): Promise<{
  child: ChildProcessWithoutNullStreams;
  origin: string;
  configure(settings: Record<string, string>): Promise<void>;
}> {
  const child = spawn(
    join(PYTHON_BIN, 'python'),
    [
      join(ROOT, 'xblock/tests/live/learner_page.py'),
      anonymousId,
      require.resolve('jquery/dist/jquery.min.js'),
    ],
    { cwd: join(ROOT, 'xblock'), stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let errors = '';
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error(`the learner page server exited: ${errors}`);
    return line.value;
  };
  const port = /^port (\d+)$/.exec(await next())?.[1];
  if (!port) throw new Error(`the learner page server said no port: ${errors}`);
  return {
    child,
    origin: `http://127.0.0.1:${port}`,
    async configure(settings) {
      child.stdin.write(`${JSON.stringify(settings)}\n`);
      expect(await next()).toBe('serving');
    },
  };
}

describe('the XBlock against the running API', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  let page: Awaited<ReturnType<typeof startPage>>;
  const anonymousId = `anon-browser-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    if (!existsSync(join(PYTHON_BIN, 'python'))) {
      throw new Error('no XBlock venv: run `bash scripts/test-browser.sh` (it sets one up)');
    }
    lab = await startLabEnv({ idleTimeout: `${IDLE_TIMEOUT_MS / 1000}s` });
    await lab.startWorker();
    page = await startPage(anonymousId);
    // The page is another origin than the API: its heartbeats need the API's CORS.
    const config = { ...lab.config, api: { ...lab.config.api, corsOrigins: [page.origin] } };
    t = await startApiEnv({}, {}, { ...lab, config });
    await page.configure({ API_URL: t.url, SERVICE_TOKEN });
  }, 120_000);
  afterAll(async () => {
    page?.child.kill();
    await t?.close();
    await lab?.close();
  });

  it('pytest: the handlers launch, poll, connect and reset the learner’s own lab', async () => {
    const { code, output } = await run(
      join(PYTHON_BIN, 'pytest'),
      ['-q', '-rs', '-p', 'no:cacheprovider', 'tests/live'],
      {
        cwd: join(ROOT, 'xblock'),
        env: { ...process.env, LAB_API_URL: t.url, LAB_SERVICE_TOKEN: SERVICE_TOKEN },
      },
    );
    if (code !== 0 || !/\d+ passed/.test(output) || /skipped/.test(output)) {
      throw new Error(`pytest tests/live (exit ${code}):\n${output}`);
    }
  }, 180_000);

  describe('in Chromium', () => {
    let browser: Browser;
    let tab: Page;
    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
      tab = await browser.newPage({ viewport: { width: 900, height: 700 } });
    });
    afterAll(() => browser?.close());

    it('shows the lab ready with its connection, heartbeats keep it ready, warns before suspend', async () => {
      const beatsBefore = await metric(t, 'labs_api_heartbeats_received_total');
      const pageErrors: string[] = [];
      tab.on('pageerror', (err) => pageErrors.push(err.message));
      await tab.goto(`${page.origin}/`);

      const root = tab.locator('.openedx-lab');
      await tab.locator('.openedx-lab[data-state="ready"]').waitFor({ timeout: 60_000 });
      await expect(root.locator('.openedx-lab-state').textContent()).resolves.toBe(
        'Your lab is ready.',
      );
      const connection = root.locator('.openedx-lab-connection');
      await connection.waitFor({ state: 'visible', timeout: 30_000 });
      await expect(connection.locator('.openedx-lab-user').textContent()).resolves.toBe('learner');
      const host = (await connection.locator('.openedx-lab-host').textContent()) ?? '';
      expect(host).toMatch(/\S/);
      await expect(connection.locator('.openedx-lab-command').textContent()).resolves.toBe(
        `ssh learner@${host}`,
      );
      // The password is there, hidden until asked for.
      await expect(connection.locator('.openedx-lab-secrets code').textContent()).resolves.toBe(
        '••••••••',
      );

      // Within idleTimeout of suspend, the page warns (in red, as an alert).
      const warning = root.locator('.openedx-lab-clock.openedx-lab-warning[role="alert"]');
      await warning.waitFor({ state: 'visible', timeout: 10_000 });
      expect(await warning.textContent()).toMatch(/Your lab will be paused in \d+:\d\d/);
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await tab.locator('#block').screenshot({ path: SCREENSHOT });

      // The heartbeat the page sent on opening arrived at the API (straight, through CORS).
      await eventually('a heartbeat from the page', async () =>
        (await metric(t, 'labs_api_heartbeats_received_total')) > beatsBefore ? true : undefined,
      );
      const labId = lab.labId({ courseId: COURSE, learnerId: anonymousId, lab: 'demo' });
      const view = async (): Promise<Lab> => (await t.service.get<Lab>(`/v1/labs/${labId}`)).data;
      const first = await view();
      expect(first.state).toBe('ready');
      const firstSuspendAt = Date.parse(first.suspendAt ?? '');

      // The learner keeps working on the page: past the suspend time it had, the lab is still
      // ready, and its last activity moved on (a later heartbeat).
      const deadline = firstSuspendAt + 3_000;
      let x = 10;
      await eventually(
        'the lab ready past its first suspend time',
        async () => {
          x = (x % 400) + 17;
          await tab.mouse.move(x, 200);
          return Date.now() >= deadline || undefined;
        },
        IDLE_TIMEOUT_MS + 30_000,
      );
      const later = await view();
      expect(later.state).toBe('ready');
      expect(Date.parse(later.lastActivityAt ?? '')).toBeGreaterThan(
        Date.parse(first.lastActivityAt ?? ''),
      );
      expect(Date.parse(later.suspendAt ?? '')).toBeGreaterThan(firstSuspendAt);
      expect(await root.getAttribute('data-state')).toBe('ready');
      expect(pageErrors).toEqual([]);
    }, 150_000);

    it('asks the XBlock for a fresh heartbeat token when the API refuses the one it has', async () => {
      // A key rotation that drops the old key refuses the page's token with a 401: here the API
      // refuses the page's first heartbeat, whatever its token.
      const fresh = await browser.newPage();
      const beats: number[] = [];
      let renewals = 0;
      await fresh.route('**/v1/labs/*/heartbeat', async (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        if (beats.length === 0) {
          beats.push(401);
          return route.fulfill({
            status: 401,
            headers: {
              'Access-Control-Allow-Origin': page.origin,
              'Content-Type': 'application/json',
            },
            body: JSON.stringify({ error: { code: 'unauthorized', message: 'token expired' } }),
          });
        }
        const response = await route.fetch();
        beats.push(response.status());
        return route.fulfill({ response });
      });
      fresh.on('request', (request) => {
        if (request.url().endsWith('/handler/heartbeat_token')) renewals += 1;
      });
      try {
        await fresh.goto(`${page.origin}/`);
        await eventually('a heartbeat accepted after the refused one', async () =>
          beats.includes(204) ? true : undefined,
        );
        expect(beats[0]).toBe(401);
        expect(renewals).toBe(1);
      } finally {
        await fresh.close();
      }
    }, 60_000);
  });
});
