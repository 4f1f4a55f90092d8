import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, utils, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { RunningEmulator } from '../../src/emulator';
import { HeatBadRequestError, type HeatClient } from '../../src/openstack';
import { SecretBox } from '../../src/secrets/envelope';
import { deleteLabUpdate, resetLabUpdate, suspendLabUpdate } from '../../workflows/messages';
import type { LabSnapshot } from '../../workflows/state';
import { SECRETS_KEY, startLabEnv, type LabEnv } from '../support/lab-env';
import { eventually, waitFor } from '../support/wait';
import { clientFor, fastPoll, startFastEmulator, uniqueStackName } from './support';

/** Where to connect, and the private key if the login uses one. */
interface Endpoint {
  host: string;
  port: number;
  privateKey?: string;
}

/** What a learner of a `shell` lab gets: where to connect and the stack's private key. */
interface Login extends Endpoint {
  privateKey: string;
  stackId: string;
}

interface Ran {
  stdout: string;
  stderr: string;
  code: number | null;
}

const box = new SecretBox([SECRETS_KEY]);

function connect(login: Endpoint, overrides: Partial<ConnectConfig> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client
      .once('ready', () => resolve(client))
      .once('error', reject)
      .connect({
        host: login.host,
        port: login.port,
        username: 'learner',
        privateKey: login.privateKey,
        readyTimeout: 10_000,
        ...overrides,
      });
  });
}

function run(client: Client, command: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, channel) => {
      if (err) return reject(err);
      const ran: Ran = { stdout: '', stderr: '', code: null };
      channel.on('data', (chunk: Buffer) => (ran.stdout += chunk.toString()));
      channel.stderr.on('data', (chunk: Buffer) => (ran.stderr += chunk.toString()));
      channel.on('exit', (code: number | null) => (ran.code = code));
      channel.on('close', () => resolve(ran));
    });
  });
}

async function exec(login: Endpoint, command: string): Promise<Ran> {
  const client = await connect(login);
  try {
    return await run(client, command);
  } finally {
    client.end();
  }
}

/** Resolves once the terminal's output (since the last call) shows `text`, within a deadline. */
function outputOf(channel: ClientChannel): (text: string) => Promise<string> {
  let seen = '';
  channel.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  return (text) =>
    eventually(
      `the terminal to show ${JSON.stringify(text)}`,
      async () => {
        const at = seen.indexOf(text);
        if (at < 0) return undefined;
        const shown = seen.slice(0, at + text.length);
        seen = seen.slice(at + text.length);
        return shown;
      },
      10_000,
    );
}

const refused = /authentication methods failed/i;

describe('the emulator SSH gateway: shell labs a learner can really log into', () => {
  let env: LabEnv;

  beforeAll(async () => {
    env = await startLabEnv();
    await env.startWorker();
  });
  afterAll(() => env?.close());

  const update = (labId: string, which: typeof suspendLabUpdate) =>
    env.client.workflow.getHandle(labId).executeUpdate(which, { args: [{ version: 1 }] });

  /** The login of a ready lab's current stack: outputs from the snapshot, the key decrypted. */
  async function loginOf(labId: string, lab: LabSnapshot): Promise<Login> {
    const stored = await eventually(`the secrets of ${labId} g${lab.generation}`, async () => {
      const doc = await env.store.secrets.get(labId);
      return doc?.generation === lab.generation ? doc : undefined;
    });
    const privateKey = box.open(stored.secrets.private_key!, {
      labId,
      generation: lab.generation,
      name: 'private_key',
    });
    return {
      host: String(lab.outputs.host),
      port: Number(lab.outputs.port),
      privateKey,
      stackId: lab.stack!.id,
    };
  }

  async function readyShellLab(learnerId: string): Promise<{ labId: string; login: Login }> {
    const { labId } = await env.launch({ learnerId, lab: 'shell' });
    const lab = await env.waitForState(labId, 'ready');
    return { labId, login: await loginOf(labId, lab) };
  }

  it('runs a command on the stack: its output, errors and exit status', async () => {
    const { login } = await readyShellLab('anon-exec');
    expect(login.host).toBe('127.0.0.1');
    expect(login.port).toBe(env.emulator.sshPort);
    expect(login.privateKey).toContain('PRIVATE KEY');

    expect(await exec(login, 'echo hello-$((40+2))')).toEqual({
      stdout: 'hello-42\n',
      stderr: '',
      code: 0,
    });
    expect(await exec(login, 'echo oops >&2; exit 7')).toEqual({
      stdout: '',
      stderr: 'oops\n',
      code: 7,
    });
    const where = await exec(login, 'pwd; echo "$HOME"; whoami >/dev/null && echo ok');
    const home = env.emulator.homeOf(login.stackId)!;
    expect(where.stdout).toBe(`${home}\n${home}\nok\n`);
  });

  it('gives an interactive bash on a pty of the requested size, resized on window changes', async () => {
    const { login } = await readyShellLab('anon-pty');
    const client = await connect(login);
    try {
      const channel = await new Promise<ClientChannel>((resolve, reject) =>
        client.shell({ rows: 40, cols: 120, term: 'xterm-256color' }, (err, ch) =>
          err ? reject(err) : resolve(ch),
        ),
      );
      const shows = outputOf(channel);
      const exited = new Promise<number>((resolve) => channel.on('exit', resolve));
      channel.write('stty size; echo "term=$TERM"\n');
      await shows('40 120');
      await shows('term=xterm-256color');
      channel.setWindow(50, 100, 0, 0);
      channel.write('stty size\n');
      await shows('50 100');
      channel.write('exit 3\n');
      expect(await exited).toBe(3);
    } finally {
      client.end();
    }
  });

  it('keeps the learner files over suspend and resume, refusing logins while suspended', async () => {
    const learnerId = 'anon-suspend';
    const { labId, login } = await readyShellLab(learnerId);
    expect((await exec(login, 'echo kept > notes.txt')).code).toBe(0);

    const open = await connect(login);
    const closed = new Promise<void>((resolve) => open.once('close', resolve));
    open.on('error', () => undefined);
    await update(labId, suspendLabUpdate);
    await env.waitForState(labId, 'suspended');
    await closed; // a suspended stack's sessions end with it
    await expect(connect(login)).rejects.toThrow(refused);

    await env.launch({ learnerId, lab: 'shell' });
    const resumed = await env.waitForState(labId, 'ready');
    expect(resumed.stack!.id).toBe(login.stackId);
    expect((await exec(login, 'cat notes.txt')).stdout).toBe('kept\n');
  });

  it('a reset gives a new stack: a new key, an empty home, the old home removed', async () => {
    const { labId, login } = await readyShellLab('anon-reset');
    expect((await exec(login, 'echo old > notes.txt')).code).toBe(0);
    const oldHome = env.emulator.homeOf(login.stackId)!;
    expect(existsSync(oldHome)).toBe(true);

    await update(labId, resetLabUpdate);
    const lab = await eventually('the reset lab to be ready', async () => {
      const s = await env.status(labId);
      return s.generation === 2 && s.state === 'ready' ? s : undefined;
    });
    const fresh = await loginOf(labId, lab);
    expect(fresh.stackId).not.toBe(login.stackId);
    expect(await exec(fresh, 'test -e notes.txt && echo there || echo gone')).toMatchObject({
      stdout: 'gone\n',
      code: 0,
    });
    await waitFor('the old stack home to be removed', async () => !existsSync(oldHome));
    await expect(connect(login)).rejects.toThrow(refused);
  });

  it('refuses a key or a password of no stack', async () => {
    const { login } = await readyShellLab('anon-stranger');
    const stranger = utils.generateKeyPairSync('ed25519').private;
    await expect(connect({ ...login, privateKey: stranger })).rejects.toThrow(refused);
    await expect(
      connect(login, { privateKey: undefined, password: 'not-a-stack-password' }),
    ).rejects.toThrow(refused);
  });

  it("each lab's key reaches its own home only; a deleted lab's home is removed", async () => {
    const a = await readyShellLab('anon-alice');
    const b = await readyShellLab('anon-bob');
    expect((await exec(a.login, 'echo alice > mine.txt')).code).toBe(0);
    expect((await exec(b.login, 'echo bob > mine.txt')).code).toBe(0);

    const seenByB = await exec(b.login, 'pwd; cat mine.txt');
    expect(seenByB.stdout).toBe(`${env.emulator.homeOf(b.login.stackId)}\nbob\n`);
    expect((await exec(a.login, 'cat mine.txt')).stdout).toBe('alice\n');

    const homeA = env.emulator.homeOf(a.login.stackId)!;
    await update(a.labId, deleteLabUpdate);
    await waitFor("the deleted lab's home to be removed", async () => !existsSync(homeA));
    await expect(connect(a.login)).rejects.toThrow(refused);
    expect((await exec(b.login, 'cat mine.txt')).stdout).toBe('bob\n');
  });
});

/** The resource type itself, through Heat: passwords, PEM keys, validation, stack actions. */
describe('OS::Emulator::Shell', () => {
  let emulator: RunningEmulator;
  let heat: HeatClient;
  const shellTemplate = (properties: string, resources = '') => `
heat_template_version: 2018-08-31
parameters:
  public_key: { type: string, default: '' }
resources:${resources}
  shell:
    type: OS::Emulator::Shell
    properties: ${properties}
outputs:
  port: { value: { get_attr: [shell, port] } }
  host: { value: { get_attr: [shell, host] } }
`;
  const withPassword = shellTemplate(
    '{ password: { get_attr: [secret, value] } }',
    `
  secret:
    type: OS::Heat::RandomString
    properties: { length: 16 }`,
  ).concat('  password: { value: { get_attr: [secret, value] } }\n');

  beforeAll(async () => {
    emulator = await startFastEmulator();
    heat = clientFor(emulator);
  });
  afterAll(() => emulator.close());

  async function created(template: string, parameters: Record<string, string> = {}) {
    const ref = await heat.createStack({ name: uniqueStackName('shell'), template, parameters });
    const stack = await heat.waitForStackStatus(ref, ['CREATE_COMPLETE'], fastPoll());
    const outputs = stack.outputs ?? {};
    return { ref, outputs, login: { host: String(outputs.host), port: Number(outputs.port) } };
  }

  it('logs in by password under any user name while the stack runs, not while suspended', async () => {
    const { ref, outputs, login } = await created(withPassword);
    expect(login).toEqual({ host: '127.0.0.1', port: emulator.sshPort });
    const asAnyone = { password: String(outputs.password), username: 'ops' };
    const client = await connect(login, asAnyone);
    expect((await run(client, 'echo "$USER"')).stdout).toBe('ops\n');
    client.end();

    await heat.suspendStack(ref);
    await heat.waitForStackStatus(ref, ['SUSPEND_COMPLETE'], fastPoll());
    await expect(connect(login, asAnyone)).rejects.toThrow(refused);
    await heat.resumeStack(ref);
    await heat.waitForStackStatus(ref, ['RESUME_COMPLETE'], fastPoll());
    (await connect(login, asAnyone)).end();

    const home = emulator.homeOf(ref.id)!;
    expect(existsSync(home)).toBe(true);
    await emulator.admin.reset(); // every stack forgotten: their homes go too
    await waitFor('the home to be removed', async () => !existsSync(home));
  });

  it('takes a PEM (SPKI) public key as well as an OpenSSH one', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { login } = await created(shellTemplate('{ public_key: { get_param: public_key } }'), {
      public_key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(await exec({ ...login, privateKey: pem }, 'echo in')).toMatchObject({
      stdout: 'in\n',
      code: 0,
    });
  });

  it('needs a public_key or a password, and a key it can read', async () => {
    await expect(
      heat.createStack({ name: uniqueStackName('shell'), template: shellTemplate('{}') }),
    ).rejects.toMatchObject({
      constructor: HeatBadRequestError,
      heatType: 'StackValidationFailed',
      heatMessage: expect.stringContaining('give at least one of public_key, password'),
    });
    const ref = await heat.createStack({
      name: uniqueStackName('shell'),
      template: shellTemplate('{ public_key: { get_param: public_key } }'),
      parameters: { public_key: 'ssh-ed25519 not-a-key' },
    });
    const failed = await heat.waitForStackStatus(ref, ['CREATE_FAILED'], fastPoll());
    expect(failed.statusReason).toContain('not an OpenSSH or PEM public key');
  });

  it('keeps its host key, port and homes over a restart on the same data dir (npm start)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emulator-restart-'));
    const files = { stateFile: join(dir, 'emulator.json'), dataDir: join(dir, 'emulator') };
    const hostKeys: string[] = [];
    const hostVerifier = (key: Buffer) => {
      hostKeys.push(key.toString('base64'));
      return true;
    };
    try {
      let local = await startFastEmulator(files);
      const ref = await clientFor(local).createStack({
        name: uniqueStackName('shell'),
        template: withPassword,
      });
      const stack = await clientFor(local).waitForStackStatus(ref, ['CREATE_COMPLETE'], fastPoll());
      const login = { host: '127.0.0.1', port: Number(stack.outputs?.port) };
      const asLearner = { password: String(stack.outputs?.password), hostVerifier };
      const wrote = await connect(login, asLearner);
      expect((await run(wrote, 'echo still > notes.txt')).code).toBe(0);
      wrote.end();
      await local.close();

      local = await startFastEmulator(files);
      try {
        expect(local.sshPort).toBe(login.port);
        const read = await connect(login, asLearner);
        expect((await run(read, 'cat notes.txt')).stdout).toBe('still\n');
        read.end();
        expect(new Set(hostKeys).size).toBe(1);
      } finally {
        await local.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails to create on an emulator started without SSH', async () => {
    const quiet = await startFastEmulator({ ssh: false });
    try {
      expect(quiet.sshPort).toBeUndefined();
      const client = clientFor(quiet);
      const ref = await client.createStack({
        name: uniqueStackName('shell'),
        template: withPassword,
      });
      const failed = await client.waitForStackStatus(ref, ['CREATE_FAILED'], fastPoll());
      expect(failed.statusReason).toContain('runs no SSH gateway');
    } finally {
      await quiet.close();
    }
  });
});
