import type { Client } from '@temporalio/client';
import type { Config, Environment } from '../config';
import type { Logger } from '../log';
import type { Store } from '../store';

/** What every route may use; built once by the process that serves the API. */
export interface ApiContext {
  config: Config;
  env: Environment;
  store: Store;
  temporal: { client: Client; taskQueue: string };
  logger: Logger;
}
