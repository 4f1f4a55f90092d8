import { labNamed } from '../../config';
import type { LabDocument } from '../../store';
import { conflict } from '../errors';
import { requireLab } from '../labs/actions';
import { connectionOf } from '../labs/connection';
import type { ApiServices } from '../services';
import type { SessionTarget } from './session';
import { sshCredentials } from '../../ssh/credentials';

/** A shell's keystrokes count as activity at most this often (and 4 times per idleTimeout). */
const ACTIVITY_EVERY_MS = 5_000;

/**
 * The lab a terminal may open on: known (404 otherwise), `ready`, and reached over SSH (409
 * otherwise). A lab launched a moment ago without a projection yet is `queued`: 409.
 */
export async function terminalLab(api: ApiServices, labId: string): Promise<LabDocument> {
  const doc = await requireLab(api, labId);
  if (!doc) throw conflict(`lab ${labId} is queued, not ready`, { state: 'queued' });
  if (doc.state !== 'ready')
    throw conflict(`lab ${labId} is ${doc.state}, not ready`, { state: doc.state });
  const protocol = labNamed(api.ctx.config, doc.lab)?.connection.protocol;
  if (protocol !== 'ssh')
    throw conflict(`lab ${doc.lab} is not reached over SSH: no terminal`, { protocol });
  return doc;
}

/**
 * Where a session connects and with what: the lab's connection with its secrets decrypted
 * (connectionOf), and the SSH credentials among them (sshCredentials).
 */
export async function sessionTarget(
  api: ApiServices,
  doc: LabDocument,
  readOnly: boolean,
): Promise<SessionTarget> {
  const { host, port, username, secrets } = await connectionOf(api, doc);
  if (host === null || port === null || username === null)
    throw conflict(`lab ${doc._id} has no SSH host, port or username yet`, { state: doc.state });
  const idleTimeout = labNamed(api.ctx.config, doc.lab)?.idleTimeout ?? ACTIVITY_EVERY_MS * 4;
  return {
    labId: doc._id,
    generation: doc.generation,
    readOnly,
    host,
    port,
    username,
    ...sshCredentials(secrets),
    activityEveryMs: Math.min(ACTIVITY_EVERY_MS, idleTimeout / 4),
  };
}
