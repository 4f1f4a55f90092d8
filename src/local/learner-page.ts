import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { TOOLS_DIR } from './tools';

/**
 * A learner's page as the LMS would serve it: the XBlock's real student view (HTML, CSS,
 * heartbeat.js, terminal.js, lab.js) rendered by the XBlock test runtime for one learner, its
 * handler calls routed to the block (xblock/tests/live/learner_page.py, in the XBlock's venv).
 * `npm start` serves one as its demo learner page; the browser test serves its own.
 */

const ROOT = resolve(__dirname, '../..');
export const XBLOCK_PYTHON = join(TOOLS_DIR, 'xblock-venv/bin/python');
const SCRIPT = join(ROOT, 'xblock/tests/live/learner_page.py');

/** What the page serves: the XBLOCK_SETTINGS bucket and the unit's Studio fields. */
export interface LearnerPageSetup {
  settings: { API_URL: string; SERVICE_TOKEN: string; PUBLIC_API_URL?: string };
  fields: {
    lab_name: string;
    terminal_enabled?: boolean;
    terminal_read_only?: boolean;
    /** The lab's graded checks, as Studio copies them from the catalog when a unit is saved. */
    checks?: Array<{ name: string; title: string; weight: number }>;
  };
}

export interface LearnerPage {
  /** Known before the API starts, so the API can list it in `corsOrigins`. */
  origin: string;
  /** Hands the page its settings and fields; it serves from then on. */
  configure(setup: LearnerPageSetup): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the page for `anonymousId` on `port` (0: a free one); see configure(). */
export async function startLearnerPage(anonymousId: string, port = 0): Promise<LearnerPage> {
  if (!existsSync(XBLOCK_PYTHON)) {
    throw new Error(`no XBlock venv at ${XBLOCK_PYTHON}: run \`bash scripts/xblock-venv.sh\``);
  }
  const child = spawn(
    XBLOCK_PYTHON,
    [SCRIPT, anonymousId, require.resolve('jquery/dist/jquery.min.js'), String(port)],
    { cwd: join(ROOT, 'xblock'), stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let errors = '';
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error(`the learner page exited: ${lastLine(errors)}`);
    return line.value;
  };
  try {
    const bound = /^port (\d+)$/.exec(await next())?.[1];
    if (!bound) throw new Error(`the learner page said no port: ${lastLine(errors)}`);
    return {
      origin: `http://127.0.0.1:${bound}`,
      async configure(setup) {
        child.stdin.write(`${JSON.stringify(setup)}\n`);
        const answer = await next();
        if (answer !== 'serving') throw new Error(`the learner page answered ${answer}`);
      },
      stop: () => stopChild(child),
    };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill();
  });
}

/** A Python traceback's last line says what went wrong (e.g. the port is taken). */
function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '(no output)';
}
