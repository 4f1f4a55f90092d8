import type { z } from 'zod';
import { labNamed } from '../../config';
import type { LabDocument } from '../../store';
import { ApiError, conflict } from '../errors';
import type { ApiServices } from '../services';
import type { connectionSchema } from './schema';

type Connection = z.output<typeof connectionSchema>;

const text = (value: unknown): string | null =>
  value === undefined || value === null ? null : String(value);

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
  const secrets: Record<string, string> = {};
  for (const [name, envelope] of Object.entries(stored?.secrets ?? {})) {
    try {
      secrets[name] = api.secretBox.open(envelope, {
        labId: doc._id,
        generation: doc.generation,
        name,
      });
    } catch (err) {
      api.ctx.logger.error(
        { labId: doc._id, workflowId: doc._id, secretName: name, err: (err as Error).message },
        'cannot decrypt a lab secret',
      );
      throw new ApiError(500, 'secret_unreadable', `secret "${name}" cannot be decrypted`);
    }
  }
  const outputs = doc.outputs ?? {};
  const port = spec.port ?? (spec.portOutput ? Number(outputs[spec.portOutput]) : NaN);
  return {
    protocol: spec.protocol,
    host: spec.host ?? (spec.hostOutput ? text(outputs[spec.hostOutput]) : null),
    port: Number.isInteger(port) ? port : null,
    username: spec.username ?? (spec.usernameOutput ? text(outputs[spec.usernameOutput]) : null),
    secrets,
  };
}
