import type { ConnectionSpec } from '../config';
import type { Envelope, SecretBox } from '../secrets/envelope';

/**
 * Where and how a lab is reached, from the catalog's connection spec and the stack's outputs and
 * decrypted secrets: the API's `/connection`, the browser terminal and the graded checks all
 * resolve it here.
 */
export interface Endpoint {
  host: string | null;
  port: number | null;
  username: string | null;
}

const text = (value: unknown): string | null =>
  value === undefined || value === null ? null : String(value);

/** Each of host, port and username: a literal of the spec, or the stack output it names. */
export function endpointOf(spec: ConnectionSpec, outputs: Record<string, unknown>): Endpoint {
  const port = spec.port ?? (spec.portOutput ? Number(outputs[spec.portOutput]) : NaN);
  return {
    host: spec.host ?? (spec.hostOutput ? text(outputs[spec.hostOutput]) : null),
    port: Number.isInteger(port) ? port : null,
    username: spec.username ?? (spec.usernameOutput ? text(outputs[spec.usernameOutput]) : null),
  };
}

const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/**
 * The SSH credentials among a lab's decrypted secrets: the private key is the secret output
 * `private_key`, or else the first secret holding a PEM or OpenSSH private key; the password is
 * the secret output `password`.
 */
export function sshCredentials(secrets: Record<string, string>): {
  privateKey?: string;
  password?: string;
} {
  const privateKey =
    secrets.private_key ?? Object.values(secrets).find((value) => PRIVATE_KEY.test(value));
  return {
    ...(privateKey ? { privateKey } : {}),
    ...(secrets.password ? { password: secrets.password } : {}),
  };
}

/**
 * Opens a lab's stored secret envelopes. Each is bound to the lab and to the generation of its
 * stack (AES-GCM aad): after a reset, the old stack's secrets never open for the new one.
 * Throws `SecretUnreadable` naming the secret (never its value).
 */
export function openSecrets(
  box: SecretBox,
  labId: string,
  generation: number,
  envelopes: Record<string, Envelope>,
): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const [name, envelope] of Object.entries(envelopes)) {
    try {
      secrets[name] = box.open(envelope, { labId, generation, name });
    } catch (err) {
      throw new SecretUnreadable(name, (err as Error).message);
    }
  }
  return secrets;
}

export class SecretUnreadable extends Error {
  constructor(
    readonly secretName: string,
    readonly reason: string,
  ) {
    super(`secret "${secretName}" cannot be decrypted`);
    this.name = 'SecretUnreadable';
  }
}
