/**
 * `npm start`: everything locally on embedded defaults — the Temporal dev server (with its UI),
 * a MongoDB-compatible server, the OpenStack emulator, the API and the worker, and a demo
 * learner page — with data kept under .data/ so a restart keeps every lab. Ctrl-C stops all of it.
 */
import { join } from 'node:path';
import {
  ConfigError,
  ensureLocalSecrets,
  environmentVariables,
  loadConfig,
  readEnvironment,
} from '../config';
import type { ChildServer } from '../local/child';
import { startMongoServer } from '../local/mongo-server';
import { startTemporalDevServer } from '../local/temporal-dev-server';
import { readTools } from '../local/tools';
import { createLogger } from '../log';
import { startRuntime, type Runtime } from '../runtime';
import { startLocalEmulator } from '../emulator/local';
import { startLearnerPage, type LearnerPage } from '../local/learner-page';
import { installTemporalLogging } from '../temporal/logging';

function loadEverything() {
  try {
    const firstEnv = readEnvironment();
    const local = ensureLocalSecrets(firstEnv.dataDir, environmentVariables());
    const env = readEnvironment(local.env);
    return { local, env, config: loadConfig(env.configPath, local.env) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const { local, env, config } = loadEverything();
  const logger = createLogger(env.logLevel, 'labs');
  installTemporalLogging(logger);
  const logDir = join(env.dataDir, 'logs');
  const stoppers: Array<() => Promise<void>> = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping ...');
    for (const stop of stoppers.reverse())
      await stop().catch((err: Error) => console.error(`  ${err.message}`));
    console.log('stopped.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    const tools = readTools();
    const track = (server: ChildServer) => stoppers.push(() => server.stop());

    let temporalAddress = config.temporal?.address;
    let temporalUi: string | undefined;
    if (!temporalAddress) {
      console.log('starting the Temporal dev server ...');
      const temporal = await startTemporalDevServer({
        cli: tools.temporalCli,
        logDir,
        port: 7233,
        uiPort: 8233,
        dbFile: join(env.dataDir, 'temporal.db'),
      });
      track(temporal);
      temporalAddress = temporal.address;
      temporalUi = temporal.uiUrl;
    }

    let mongoUri = config.mongodb?.uri ?? env.mongodbUri;
    if (!mongoUri) {
      console.log('starting the MongoDB-compatible server ...');
      const mongo = await startMongoServer({
        tools,
        dataDir: join(env.dataDir, 'mongo'),
        logDir,
        port: 27017,
      });
      track(mongo);
      if (mongo.fallback) console.log(`FerretDB runs on SQLite: ${mongo.fallback}`);
      mongoUri = `${mongo.uri}labs`;
    }

    let emulatorUrl: string | undefined;
    let emulatorSsh: number | undefined;
    if (config.emulator) {
      const emulator = await startLocalEmulator(
        config.emulator,
        join(env.dataDir, 'emulator.json'),
        undefined,
        logger.child({ component: 'emulator' }),
      );
      stoppers.push(() => emulator.close());
      emulatorUrl = emulator.url;
      emulatorSsh = emulator.sshPort;
    }

    // The page's origin must be known before the API starts: its CORS lists it.
    const demo = config.demoPage && (await startDemoPage(config.demoPage.port));
    if (demo) stoppers.push(() => demo.stop());
    const apiConfig = demo
      ? {
          ...config,
          api: { ...config.api, corsOrigins: [...(config.api.corsOrigins ?? []), demo.origin] },
        }
      : config;

    console.log('starting the API and the worker ...');
    const runtime: Runtime = await startRuntime({
      config: apiConfig,
      env,
      endpoints: {
        temporalAddress,
        namespace: config.temporal?.namespace ?? 'default',
        taskQueue: config.temporal?.taskQueue ?? 'labs',
        mongoUri,
      },
      logger,
      roles: { api: true, worker: true },
    });
    stoppers.push(() => runtime.close());
    const serviceToken = local.env.LABS_SERVICE_TOKENS?.split(',')[0];
    if (demo && config.demoPage && serviceToken && runtime.apiUrl) {
      await demo.configure({
        settings: { API_URL: runtime.apiUrl, SERVICE_TOKEN: serviceToken },
        fields: {
          lab_name: config.demoPage.lab,
          checks: (config.labs[config.demoPage.lab]?.checks ?? []).map(
            ({ name, title, weight }) => ({ name, title, weight }),
          ),
        },
      });
    }

    const lines = [
      '',
      '  Lab orchestrator is running (Ctrl-C stops everything)',
      `    API            ${runtime.apiUrl}`,
      `    Temporal UI    ${temporalUi ?? '(external Temporal: use its UI)'}`,
      `    Temporal       ${temporalAddress}`,
      `    MongoDB        ${mongoUri}`,
      ...(emulatorUrl ? [`    OpenStack      ${emulatorUrl} (emulator)`] : []),
      ...(emulatorSsh
        ? [`    lab SSH        127.0.0.1:${emulatorSsh} (emulator, shell labs)`]
        : []),
      ...(demo && config.demoPage
        ? [`    learner page   ${demo.origin}/ (lab ${config.demoPage.lab}, with its terminal)`]
        : []),
      `    config         ${config.file}`,
      ...(local.generated.length > 0
        ? [`    local secrets  ${local.file} (${local.generated.join(', ')})`]
        : []),
      `    service token  ${serviceToken}`,
      `    admin token    ${local.env.LABS_ADMIN_TOKENS?.split(',')[0]}`,
      '',
    ];
    console.log(lines.join('\n'));
  } catch (err) {
    console.error(
      err instanceof ConfigError ? err.message : `could not start: ${(err as Error).stack ?? err}`,
    );
    await stopAll(1);
  }
}

/**
 * The demo learner page, or undefined with the reason printed: everything else runs without it
 * (it needs the XBlock's venv, which `npm start` installs from PyPI).
 */
async function startDemoPage(port: number): Promise<LearnerPage | undefined> {
  try {
    return await startLearnerPage(DEMO_LEARNER, port);
  } catch (err) {
    console.error(`  no demo learner page: ${(err as Error).message}`);
    return undefined;
  }
}

/** The demo page's learner (an anonymous user id, as the LMS gives the XBlock). */
const DEMO_LEARNER = 'demo-learner';

void main();
