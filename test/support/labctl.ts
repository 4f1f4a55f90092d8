import { execFile } from 'node:child_process';
import { join } from 'node:path';

const LABCTL = join(__dirname, '../../bin/labctl.js');

export interface LabctlRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** labctl as support staff run it: a child process, configured by its environment. */
export function labctl(args: string[], env: Record<string, string> = {}): Promise<LabctlRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [LABCTL, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
