import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretsKey } from '../config';

/**
 * Where a sealed secret belongs: its lab, the generation of the stack whose output it is, and
 * the output's name. Bound into the ciphertext (AES-GCM associated data), so an envelope copied
 * to another lab, generation or output does not open.
 */
export interface SecretBinding {
  labId: string;
  generation: number;
  name: string;
}

/**
 * AES-256-GCM ciphertext with the id of the key that made it, so old keys still decrypt after
 * rotation. `v: 2` binds the lab, generation and output name (SecretBinding). Envelopes without
 * `v` were sealed before that, bound to their lab id only: they still open, the old way, until
 * they are sealed again (`npm run reencrypt`, or the lab's next stack).
 */
export interface Envelope {
  v?: 2;
  keyId: string;
  iv: string;
  tag: string;
  data: string;
}

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
/** The full GCM tag: Node would accept a truncated one (down to 4 bytes) and check only that much. */
const TAG_BYTES = 16;

function associatedData(envelope: Pick<Envelope, 'v'>, binding: SecretBinding): Buffer {
  if (envelope.v === undefined) return Buffer.from(binding.labId);
  // An array, so no choice of lab id or output name can make two bindings encode alike.
  return Buffer.from(
    JSON.stringify(['lab-secret/v2', binding.labId, binding.generation, binding.name]),
  );
}

export class SecretBox {
  constructor(private readonly keys: SecretsKey[]) {
    if (keys.length === 0)
      throw new Error('no secrets key: set LABS_SECRETS_KEY (keyId:base64-of-32-bytes)');
  }

  /** Seals with the first key, bound to `binding` (the current format, v2). */
  seal(plaintext: string, binding: SecretBinding): Envelope {
    const key = this.keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData({ v: 2 }, binding));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      v: 2,
      keyId: key.id,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  /** Opens an envelope of either format; throws unless it was sealed for `binding`. */
  open(envelope: Envelope, binding: SecretBinding): string {
    if (envelope.v !== undefined && envelope.v !== 2)
      throw new Error(`secret envelope of unknown version ${String(envelope.v)}`);
    const key = this.keys.find((k) => k.id === envelope.keyId);
    if (!key)
      throw new Error(
        `secret sealed with key "${envelope.keyId}", which LABS_SECRETS_KEY no longer lists`,
      );
    const iv = Buffer.from(envelope.iv, 'base64');
    const tag = Buffer.from(envelope.tag, 'base64');
    if (iv.length !== IV_BYTES) throw new Error(`secret envelope iv is not ${IV_BYTES} bytes`);
    if (tag.length !== TAG_BYTES) throw new Error(`secret envelope tag is not ${TAG_BYTES} bytes`);
    const decipher = createDecipheriv(ALGORITHM, key.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(envelope, binding));
    decipher.setAuthTag(tag);
    return Buffer.concat([
      decipher.update(Buffer.from(envelope.data, 'base64')),
      decipher.final(),
    ]).toString('utf8');
  }

  /**
   * True when the envelope was not sealed with the current (first) key, or not in the current
   * format: `npm run reencrypt` seals it again.
   */
  isStale(envelope: Envelope): boolean {
    return envelope.keyId !== this.keys[0]!.id || envelope.v !== 2;
  }
}
