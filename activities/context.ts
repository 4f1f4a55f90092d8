import type { Config } from '../src/config';
import type { Logger } from '../src/log';
import type { HeatClient } from '../src/openstack/types';
import type { SecretBox } from '../src/secrets/envelope';
import type { Store } from '../src/store';

/** What the activities need from the outside world; tests pass real or fake ones to the same factory. */
export interface ActivityDeps {
  config: Config;
  store: Store;
  heat: (provider: string) => HeatClient;
  secretBox: SecretBox;
  logger: Logger;
  /**
   * Tells a queued lab that capacity was freed (a Temporal signal in production); false when
   * the lab's workflow is gone, so its queue entry can be removed.
   */
  wakeQueuedLab: (labId: string, provider: string) => Promise<boolean>;
  /**
   * Whether the lab's workflow still runs (read-only: nothing is woken). Absent in tests that
   * need no queue reconciliation: every queued lab then counts as alive.
   */
  isLabAlive?: (labId: string) => Promise<boolean>;
  /** Tells a lab's pool workflow that one of its stacks was claimed, so it refills at once. */
  wakePool: (lab: string) => Promise<void>;
  /** Template files are read from here (heat-templates/). */
  templatesDir: string;
  /** Heat polling intervals; tests make them short. */
  pollIntervalMs?: { min: number; max: number };
  now?: () => Date;
}
