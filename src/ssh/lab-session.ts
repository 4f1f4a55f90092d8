import type { Client } from 'ssh2';
import { connect, ScriptConnectionError } from '../checks/run-script';
import { labNamed, type Config } from '../config';
import type { SecretBox } from '../secrets/envelope';
import type { LabDocument, Store } from '../store';
import { endpointOf, openSecrets, sshCredentials } from './credentials';

/** What opening a session needs (the activities' deps have it all). */
export interface LabSessionDeps {
  config: Config;
  store: Store;
  secretBox: SecretBox;
  now?: () => Date;
}

export interface LabSessionTarget {
  labId: string;
  /** The catalog name of the lab (its connection spec). */
  lab: string;
  /** The stack generation the caller means: its secrets and pinned host key are this one's. */
  generation: number;
  /**
   * Why the lab's document is not one to run on, or null when it is. The default asks only
   * that the lab still be on `generation` with a stack: a hook runs in any state.
   */
  refuse?: (doc: LabDocument | null) => string | null;
}

/**
 * The lab cannot be reached for this generation and retrying will not change it: it is gone or
 * on another stack, not reached over SSH, without credentials or an endpoint, or its host key
 * changed. Every other error of `openLabSession` (the lab not answering yet, the store) is
 * transient.
 */
export class LabUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabUnreachable';
  }
}

/** The default refusal: the lab must still be on the caller's stack generation. */
export const onGeneration =
  (generation: number) =>
  (doc: LabDocument | null): string | null => {
    if (!doc) return 'the lab is gone';
    if (doc.generation !== generation)
      return `the lab is on stack generation ${doc.generation}, not ${generation}`;
    return doc.stack ? null : 'the lab has no stack';
  };

/**
 * Opens an SSH connection to the lab's stack of `target.generation`, with its decrypted
 * credentials, pinning the stack's host key (trust on first use, per generation). The
 * credentials never leave this function; the caller ends the connection.
 */
export async function openLabSession(
  deps: LabSessionDeps,
  target: LabSessionTarget,
): Promise<Client> {
  const { labId, lab, generation } = target;
  const doc = await deps.store.labs.get(labId);
  const refusal = (target.refuse ?? onGeneration(generation))(doc);
  if (refusal !== null) throw new LabUnreachable(refusal);
  const spec = labNamed(deps.config, lab)?.connection;
  if (spec?.protocol !== 'ssh') throw new LabUnreachable(`lab ${lab} is not reached over SSH`);
  const stored = await deps.store.secrets.get(labId);
  if (!stored || stored.generation !== generation)
    throw new LabUnreachable("the lab's credentials are not stored yet");
  const { host, port, username } = endpointOf(spec, doc?.outputs ?? {});
  if (!host || port === null || !username)
    throw new LabUnreachable('the lab has no SSH host, port or username');
  const credentials = sshCredentials(
    openSecrets(deps.secretBox, labId, generation, stored.secrets),
  );
  try {
    return await connect({
      host,
      port,
      username,
      ...credentials,
      generation,
      checkHostKey: (fingerprint) =>
        deps.store.hostKeys.check(labId, generation, fingerprint, deps.now?.() ?? new Date()),
    });
  } catch (err) {
    // A changed host key or an unreadable private key: no retry helps, and none must be tried.
    if (err instanceof ScriptConnectionError && err.permanent)
      throw new LabUnreachable(err.message);
    throw err;
  }
}
