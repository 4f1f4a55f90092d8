import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild, waitUntil } from '../../src/local/child';

/**
 * A server's log outlives the server process: PostgreSQL's postmaster under `su` can keep the
 * pipes open and write after `su` is gone. The chaos soak failed its whole suite with
 * "write after end" when the log was ended at the process's exit.
 */
describe('a started child server log', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'labs-child-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps what a process that outlived the server writes after the stop', async () => {
    const logFile = join(dir, 'server.log');
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onError);
    try {
      // setsid puts the writer outside the server's process group, so the stop does not end it.
      const child = startChild(
        'server',
        'sh',
        ['-c', 'echo started; setsid sh -c "sleep 0.5; echo late" & exec sleep 60'],
        { logFile },
      );
      await waitUntil('the first line', async () => readLog(logFile).includes('started'), 5_000);
      await child.stop(1_000);
      await waitUntil('the late line', async () => readLog(logFile).includes('late'), 5_000);
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(errors).toEqual([]);
  });
});

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
