import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StackDeletion } from './deletions';
import type { TokenInfo } from './keystone-api';
import type { EmuStack } from './model';

export interface PersistedState {
  version: 1;
  stacks: EmuStack[];
  tokens: Array<[string, TokenInfo]>;
  /** Absent in files written before the deletion log. */
  deletions?: StackDeletion[];
}

export function loadState(file: string): PersistedState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const state = JSON.parse(text) as PersistedState;
  return state.version === 1 ? state : undefined;
}

/**
 * Writes the state at most once per `delayMs` after a change (every resource step is a change),
 * atomically: a crash mid-write leaves the previous file.
 */
export class DebouncedWriter {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly snapshot: () => PersistedState,
    private readonly delayMs = 200,
  ) {
    mkdirSync(dirname(file), { recursive: true });
  }

  schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.snapshot()));
    renameSync(tmp, this.file);
  }
}
