import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { SecretsKey } from '../../config';

/**
 * The HMAC-SHA256 behind the API's signed tokens (heartbeat and terminal tokens). Its keys are
 * derived (HKDF) from each LABS_SECRETS_KEY rather than being keys of their own, so tokens
 * survive restarts without new configuration; each kind of token names its own `info`, which
 * keeps its MAC key distinct from the other kinds' and from the AES key that seals secrets.
 * Every configured key verifies, so a token issued before a key rotation stays valid while the
 * old key is still listed; the first key signs.
 */
export class TokenMac {
  private readonly keys: Buffer[];

  constructor(secretsKeys: SecretsKey[], info: string, what: string) {
    if (secretsKeys.length === 0) throw new Error(`no secrets key: ${what} need LABS_SECRETS_KEY`);
    this.keys = secretsKeys.map((k) =>
      Buffer.from(hkdfSync('sha256', k.key, 'labs-api', info, 32)),
    );
  }

  /** The signature of `payload` (base64url, 43 characters). */
  sign(payload: string): string {
    return mac(this.keys[0]!, payload);
  }

  /** Whether `signature` is `payload`'s under any configured key. */
  verify(payload: string, signature: string): boolean {
    const given = Buffer.from(signature, 'base64url');
    // Every key is tried, without stopping at the first match, so timing says nothing about which.
    let valid = false;
    for (const key of this.keys) {
      const expected = Buffer.from(mac(key, payload), 'base64url');
      if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
    }
    return valid;
  }
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}
