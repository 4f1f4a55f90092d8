import type { SecretsKey } from '../../config';
import { LAB_ID_PATTERN } from '../../temporal/ids';
import { TokenMac } from './token-mac';

/**
 * Heartbeat tokens: `hb1.<labId>.<expiry, epoch seconds>.<HMAC-SHA256, base64url>`.
 *
 * A learner's browser holds one, so it carries no power but "this lab is in use". Signed under a
 * key derived from the secrets keys (TokenMac), every configured key verifying.
 *
 * The expiry is when the lab's life is due to end (maxLifetime, counted from the issue), but the
 * lab lives on until its stack is deleted, which takes as long as Heat takes: an authentic
 * token past its expiry is still reported with its lab, and the heartbeat route accepts it for as
 * long as that life lasts (see HeartbeatRelay.accept). Everywhere else it is expired (401).
 */
const VERSION = 'hb1';
const LAB_ID_SOURCE = LAB_ID_PATTERN.source.slice(1, -1); // without its ^ and $ anchors
const TOKEN_PATTERN = new RegExp(`^hb1\\.(${LAB_ID_SOURCE})\\.(\\d{1,12})\\.([A-Za-z0-9_-]{43})$`);

export type HeartbeatTokenCheck =
  | { ok: true; labId: string; expiresAt: Date }
  | { ok: false; reason: 'malformed' | 'tampered' }
  | { ok: false; reason: 'expired'; labId: string; expiresAt: Date };

export class HeartbeatTokens {
  private readonly mac: TokenMac;

  constructor(
    secretsKeys: SecretsKey[],
    private readonly now: () => number = Date.now,
  ) {
    this.mac = new TokenMac(secretsKeys, 'heartbeat-token v1', 'heartbeat tokens');
  }

  static looksLikeOne(token: string): boolean {
    return token.startsWith(`${VERSION}.`);
  }

  issue(labId: string, validForMs: number): string {
    if (!LAB_ID_PATTERN.test(labId)) throw new Error(`not a lab id: ${labId}`);
    const expiry = Math.ceil((this.now() + validForMs) / 1000);
    const payload = `${VERSION}.${labId}.${expiry}`;
    return `${payload}.${this.mac.sign(payload)}`;
  }

  verify(token: string): HeartbeatTokenCheck {
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return { ok: false, reason: 'malformed' };
    const [, labId, expiry, signature] = match as unknown as [string, string, string, string];
    const payload = `${VERSION}.${labId}.${expiry}`;
    if (!this.mac.verify(payload, signature)) return { ok: false, reason: 'tampered' };
    const expiresAt = new Date(Number(expiry) * 1000);
    if (expiresAt.getTime() <= this.now())
      return { ok: false, reason: 'expired', labId, expiresAt };
    return { ok: true, labId, expiresAt };
  }
}
