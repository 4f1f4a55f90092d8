import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Config } from '../../src/config';
import { startLabEnv, type LabEnv } from '../support/lab-env';
import { startLearnerPage, XBLOCK_PYTHON, type LearnerPage } from '../../src/local/learner-page';
import { eventually, metricSum, SERVICE_TOKEN, startApiEnv, type ApiEnv } from '../api/api-env';

/**
 * The XBlock against the running API (the real app over the emulator, Temporal and Mongo):
 * its pytest handler suite, then the learner view in headless Chromium (Debian's, driven by
 * playwright-core: no browser download), with the terminal in the browser on the emulator's
 * `shell` lab (a real shell behind the emulator's SSH server). Run by `scripts/test-browser.sh`,
 * which installs Chromium when it is missing and sets LABS_BROWSER_TEST.
 */

const ROOT = resolve(__dirname, '../..');
const PYTHON_BIN = dirname(XBLOCK_PYTHON);
/** The course of the XBlock test runtime's unit (xblock/tests/conftest.py). */
const COURSE = 'course-v1:OpenCraft+Linux101+2026';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Short enough that the page's warning (last three minutes) shows as soon as the lab is ready. */
const IDLE_TIMEOUT_MS = 40_000;
/** `docs/NAME.png` when LABS_SCREENSHOT=docs, else a temporary file. */
const screenshotPath = (name: string): string =>
  process.env.LABS_SCREENSHOT === 'docs'
    ? join(ROOT, `docs/${name}.png`)
    : join(tmpdir(), `${name}-${process.pid}.png`);
const SCREENSHOT = screenshotPath('learner-view');
const TERMINAL_SCREENSHOT = screenshotPath('terminal');
const CHECKS_SCREENSHOT = screenshotPath('checks');

interface Lab {
  id: string;
  state: string;
  lastActivityAt: string | null;
  suspendAt: string | null;
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

describe('the XBlock against the running API', () => {
  let lab: LabEnv;
  let t: ApiEnv;
  let page: LearnerPage;
  /** A unit of the `shell` lab, with the terminal in the browser. */
  let shellPage: LearnerPage;
  const anonymousId = `anon-browser-${randomUUID().slice(0, 8)}`;
  const shellLearner = `anon-shell-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    if (!existsSync(XBLOCK_PYTHON)) {
      throw new Error('no XBlock venv: run `bash scripts/test-browser.sh` (it sets one up)');
    }
    lab = await startLabEnv({ idleTimeout: `${IDLE_TIMEOUT_MS / 1000}s` });
    page = await startLearnerPage(anonymousId);
    shellPage = await startLearnerPage(shellLearner);
    // The pages are other origins than the API: their heartbeats and terminals need its CORS.
    // The shell lab keeps running while the terminal test types (no suspend warning either).
    const shell = { ...lab.config.labs.shell!, idleTimeout: 3_600_000 };
    const config: Config = {
      ...lab.config,
      labs: { ...lab.config.labs, shell },
      api: { ...lab.config.api, corsOrigins: [page.origin, shellPage.origin] },
      // The demo unit shows the learner's lab time left under a usage limit.
      usageLimits: [
        {
          scope: 'course',
          courses: [COURSE],
          labs: ['demo'],
          limit: 20 * 3_600_000,
          window: '30d',
          breach: 'block',
          warnAt: 0.8,
        },
      ],
    };
    await lab.startWorker(config);
    t = await startApiEnv({}, {}, { ...lab, config });
    const settings = { API_URL: t.url, SERVICE_TOKEN };
    await page.configure({ settings, fields: { lab_name: 'demo', terminal_enabled: false } });
    // The unit's checks as Studio saves them from the catalog (the XBlock scores without the API).
    const checks = shell.checks.map(({ name, title, weight }) => ({ name, title, weight }));
    await shellPage.configure({ settings, fields: { lab_name: 'shell', checks } });
  }, 120_000);
  afterAll(async () => {
    await page?.stop();
    await shellPage?.stop();
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
      const beatsBefore = await metricSum(t, 'labs_api_heartbeats_received_total');
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

      // A usage limit applies: the lab time left, counting down from the course's 20 hours.
      await expect(root.locator('.openedx-lab-usage').textContent()).resolves.toMatch(
        /^(19 h 5\d min|20 h) of lab time left, out of 20 h per 30 days\.$/,
      );

      // Within idleTimeout of suspend, the page warns (in red, as an alert).
      const warning = root.locator('.openedx-lab-clock.openedx-lab-warning[role="alert"]');
      await warning.waitFor({ state: 'visible', timeout: 10_000 });
      expect(await warning.textContent()).toMatch(/Your lab will be paused in \d+:\d\d/);
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await tab.locator('#block').screenshot({ path: SCREENSHOT });

      // The heartbeat the page sent on opening arrived at the API (straight, through CORS).
      await eventually('a heartbeat from the page', async () =>
        (await metricSum(t, 'labs_api_heartbeats_received_total')) > beatsBefore ? true : undefined,
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

    describe('the terminal in the browser', () => {
      let termTab: Page;
      const pageErrors: string[] = [];
      beforeAll(async () => {
        termTab = await browser.newPage({ viewport: { width: 900, height: 800 } });
        termTab.on('pageerror', (err) => pageErrors.push(err.message));
      });
      afterAll(() => termTab?.close());

      const root = () => termTab.locator('.openedx-lab');
      /** The terminal's screen, a line per row (xterm.js's DOM renderer). */
      const screenLines = () =>
        root().locator('.openedx-lab-terminal .xterm-rows > div').allTextContents();
      /** Types a command into the terminal and waits for an output line matching `expected`. */
      async function typeIn(command: string, expected: RegExp): Promise<RegExpMatchArray> {
        const before = (await screenLines()).filter((line) => expected.test(line)).length;
        await root().locator('.openedx-lab-terminal .xterm-screen').click();
        await termTab.keyboard.type(command);
        await termTab.keyboard.press('Enter');
        return eventually(`"${command}" answering ${expected}`, async () => {
          const matches = (await screenLines()).filter((line) => expected.test(line));
          return matches.length > before ? expected.exec(matches.at(-1)!)! : undefined;
        });
      }
      /** `stty size` in the lab's shell: the pty's size, as the page's resize messages set it. */
      async function ptySize(): Promise<{ rows: number; cols: number }> {
        const [, rows, cols] = await typeIn("stty size | sed 's/^/size=/'", /size=(\d+) (\d+)/);
        return { rows: Number(rows), cols: Number(cols) };
      }

      it('opens once the lab is ready: typing a command shows its output', async () => {
        await termTab.goto(`${shellPage.origin}/`);
        await termTab.locator('.openedx-lab[data-state="ready"]').waitFor({ timeout: 60_000 });
        await root().locator('.openedx-lab-terminal .xterm-rows').waitFor({ timeout: 30_000 });
        await eventually(
          'the shell prompt',
          async () =>
            (await screenLines()).some((line) => line.includes('learner@lab')) || undefined,
        );
        await typeIn('echo hello-$((40+2))', /^hello-42\s*$/);
        await expect(root().locator('.openedx-lab-terminal-status').isHidden()).resolves.toBe(true);

        // The SSH details stay, folded, for the learner's own client.
        const ssh = root().locator('.openedx-lab-ssh');
        expect(await ssh.getAttribute('open')).toBeNull();
        await expect(root().locator('.openedx-lab-ssh-summary').textContent()).resolves.toBe(
          'Advanced: use your own SSH client',
        );
        await expect(ssh.locator('.openedx-lab-command').textContent()).resolves.toMatch(
          /^ssh -i shell-key\.pem( -p \d+)? learner@\S+$/,
        );
        mkdirSync(dirname(TERMINAL_SCREENSHOT), { recursive: true });
        await termTab.locator('#block').screenshot({ path: TERMINAL_SCREENSHOT });

        // The pty has the size the page fitted (a resize message per fit): as many rows as the
        // screen shows, and more of both in full screen.
        const shown = await ptySize();
        expect(shown.rows).toBe((await screenLines()).length);
        const toggle = root().locator('.lab-terminal-toggle');
        await expect(toggle.textContent()).resolves.toBe('Full screen');
        await toggle.click();
        await expect(toggle.textContent()).resolves.toBe('Exit full screen');
        const full = await eventually('a bigger pty in full screen', async () => {
          const size = await ptySize();
          return size.rows > shown.rows && size.cols > shown.cols ? size : undefined;
        });
        expect(full.rows).toBe((await screenLines()).length);
        await toggle.click();
        await eventually('the pty back to its size', async () => {
          const size = await ptySize();
          return size.rows === shown.rows && size.cols === shown.cols ? true : undefined;
        });
        expect(pageErrors).toEqual([]);
      }, 120_000);

      it('says why when the lab is paused, and reconnects once it is resumed', async () => {
        const labId = lab.labId({ courseId: COURSE, learnerId: shellLearner, lab: 'shell' });
        const suspended = await t.service.post(`/v1/labs/${labId}/suspend`);
        expect(suspended.status).toBe(202);
        const status = root().locator('.openedx-lab-terminal-status');
        await eventually('the terminal says the lab is pausing', async () => {
          const text = (await status.isVisible()) ? await status.textContent() : '';
          return /suspending|paused|stopped running/.test(text ?? '') || undefined;
        });
        // The learner comes back (Resume, unless a heartbeat of theirs resumed it already): the
        // terminal connects again by itself, with a fresh token.
        const resume = root().locator('.openedx-lab-launch');
        await eventually(
          'the lab ready again and the terminal connected',
          async () => {
            if (await resume.isVisible()) await resume.click();
            const ready = (await root().getAttribute('data-state')) === 'ready';
            return (ready && (await status.isHidden())) || undefined;
          },
          90_000,
        );
        await typeIn('echo back-$((6*7))', /^back-42\s*$/);
        expect(pageErrors).toEqual([]);
      }, 120_000);

      it('checks the learner’s work: one check fails with its hint, fixed in the terminal, full score', async () => {
        const checks = root().locator('.openedx-lab-checks');
        const button = checks.locator('.openedx-lab-check');
        const score = checks.locator('.openedx-lab-score');
        const results = () =>
          checks.locator('.openedx-lab-check-result').evaluateAll((items) =>
            items.map((item) => ({
              title: item.querySelector('.openedx-lab-check-title')?.textContent,
              passed: item.classList.contains('openedx-lab-check-passed'),
              hint: item.querySelector('.openedx-lab-check-hint')?.textContent ?? null,
            })),
          );
        const checkMyWork = async (expected: string) => {
          await button.waitFor({ state: 'visible', timeout: 30_000 });
          await eventually(
            'the button enabled',
            async () => (await button.isEnabled()) || undefined,
          );
          await button.click();
          return eventually(`the score ${expected}`, async () => {
            const text = (await score.isVisible()) ? await score.textContent() : '';
            return text?.includes(expected) ? text : undefined;
          });
        };

        await typeIn('mkdir -p ~/project && echo made-$((1+1))', /^made-2\s*$/);
        await checkMyWork('2 of 3');
        expect(await results()).toEqual([
          {
            title: 'notes.txt says hello',
            passed: false,
            hint: expect.stringContaining('there is no notes.txt in your home folder yet'),
          },
          { title: 'a project folder', passed: true, hint: null },
        ]);
        mkdirSync(dirname(CHECKS_SCREENSHOT), { recursive: true });
        await termTab.locator('#block').screenshot({ path: CHECKS_SCREENSHOT });
        // The learner fixes it in the terminal, as the hint says, and checks again.
        await typeIn('echo hello > ~/notes.txt && echo wrote-$((2+3))', /^wrote-5\s*$/);
        await checkMyWork('3 of 3');
        expect((await results()).map((r) => r.passed)).toEqual([true, true]);

        // Both runs are the API's, newest first (the XBlock's grade events: xblock/tests).
        const labId = lab.labId({ courseId: COURSE, learnerId: shellLearner, lab: 'shell' });
        const runs = await t.service.get<{ checks: Array<{ state: string; score: unknown }> }>(
          `/v1/labs/${labId}/checks`,
        );
        expect(runs.data.checks.map((r) => r.state)).toEqual(['passed', 'failed']);
        expect(pageErrors).toEqual([]);
      }, 120_000);
    });
  });
});
