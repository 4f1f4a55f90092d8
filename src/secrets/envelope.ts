import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretsKey } from '../config';

/** AES-256-GCM ciphertext with the id of the key that made it, so old keys still decrypt after rotation. */
export interface Envelope {
  keyId: string;
  iv: string;
  tag: string;
  data: string;
}

export class SecretBox {
  constructor(private readonly keys: SecretsKey[]) {
    if (keys.length === 0)
      throw new Error('no secrets key: set LABS_SECRETS_KEY (keyId:base64-of-32-bytes)');
  }

  /** `aad` binds the ciphertext to its lab, so an envelope copied onto another lab does not decrypt. */
  seal(plaintext: string, aad: string): Envelope {
    const key = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.key, iv);
    cipher.setAAD(Buffer.from(aad));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      keyId: key.id,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  open(envelope: Envelope, aad: string): string {
    const key = this.keys.find((k) => k.id === envelope.keyId);
    if (!key)
      throw new Error(
        `secret sealed with key "${envelope.keyId}", which LABS_SECRETS_KEY no longer lists`,
      );
    const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(envelope.iv, 'base64'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
    return Buffer.concat([
      decipher.update(Buffer.from(envelope.data, 'base64')),
      decipher.final(),
    ]).toString('utf8');
  }

  /** True when the envelope was not sealed with the current (first) key: a rotation should re-seal it. */
  isStale(envelope: Envelope): boolean {
    return envelope.keyId !== this.keys[0]!.id;
  }
}
