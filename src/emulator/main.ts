/**
 * `npm run emulator -- --port 5000 --create-delay-ms 3000 --state-file .data/emulator.json`
 * Prints the Keystone auth URL, the SSH gateway's port and the admin token, and runs until Ctrl-C.
 * `--data-dir` keeps the SSH host key and the learners' homes across runs.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../log';
import { startEmulator } from './server';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5000' },
      'create-delay-ms': { type: 'string' },
      'wait-scale': { type: 'string' },
      'max-stacks': { type: 'string' },
      'state-file': { type: 'string' },
      'data-dir': { type: 'string' },
      'ssh-port': { type: 'string' },
      'admin-token': { type: 'string' },
      region: { type: 'string' },
    },
  });
  const num = (text: string | undefined): number | undefined =>
    text === undefined ? undefined : Number(text);
  const emulator = await startEmulator({
    host: values.host,
    port: num(values.port),
    createDelayMs: num(values['create-delay-ms']),
    waitScale: num(values['wait-scale']),
    maxStacksPerProject: num(values['max-stacks']),
    stateFile: values['state-file'],
    dataDir: values['data-dir'],
    sshPort: num(values['ssh-port']),
    adminToken: values['admin-token'],
    region: values.region,
    logger: createLogger('info', 'emulator'),
  });
  process.stdout.write(
    `${JSON.stringify({ msg: 'emulator listening', authUrl: emulator.authUrl, region: emulator.region, admin: `${emulator.url}/_admin/`, sshPort: emulator.sshPort })}\n`,
  );
  if (!values['admin-token']) process.stdout.write(`admin token: ${emulator.adminToken}\n`);
  const stop = (): void => {
    void emulator.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
