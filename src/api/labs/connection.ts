import type { z } from 'zod';
import { labNamed } from '../../config';
import type { LabDocument } from '../../store';
import { ApiError, conflict } from '../errors';
import type { ApiServices } from '../services';
import type { connectionSchema } from './schema';
import { endpointOf, openSecrets, SecretUnreadable } from '../../ssh/credentials';

type Connection = z.output<typeof connectionSchema>;

/**
 * Where the learner connects, from the catalog's connection spec (a literal or a stack output
 * for each of host, port and username), with the secret outputs decrypted. The secrets are
 * bound to the lab (AES-GCM aad) and to the generation of its stack: after a reset, the old
 * stack's secrets are never served for the new one.
 */
export async function connectionOf(api: ApiServices, doc: LabDocument): Promise<Connection> {
  if (doc.state !== 'ready')
    throw conflict(`lab ${doc._id} is ${doc.state}, not ready`, { state: doc.state });
  const spec = labNamed(api.ctx.config, doc.lab)?.connection;
  if (!spec) throw conflict(`lab ${doc.lab} is no longer in the catalog`, { lab: doc.lab });
  const stored = await api.deps.mongo('read secrets', () => api.ctx.store.secrets.get(doc._id));
  if (stored && stored.generation !== doc.generation)
    throw conflict(`the secrets of lab ${doc._id} are not stored yet`, { state: doc.state });
  let secrets: Record<string, string>;
  try {
    secrets = openSecrets(api.secretBox, doc._id, doc.generation, stored?.secrets ?? {});
  } catch (err) {
    if (!(err instanceof SecretUnreadable)) throw err;
    api.ctx.logger.error(
      { labId: doc._id, workflowId: doc._id, secretName: err.secretName, err: err.reason },
      'cannot decrypt a lab secret',
    );
    throw new ApiError(500, 'secret_unreadable', err.message);
  }
  return { protocol: spec.protocol, ...endpointOf(spec, doc.outputs ?? {}), secrets };
}
