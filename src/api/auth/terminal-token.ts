import type { SecretsKey } from '../../config';
import { LAB_ID_PATTERN } from '../../temporal/ids';
import { TokenMac } from './token-mac';

/**
 * Terminal tokens: `tt1.<labId>.<expiry, epoch seconds>.<rw|ro>.<HMAC-SHA256, base64url>`.
 *
 * What a learner's page presents to open `GET /v1/labs/{id}/terminal` (in the WebSocket's
 * `Sec-WebSocket-Protocol` header, never in the URL). It opens a shell on one lab, so it lives
 * only long enough to connect: an open session does not need it any more, and a page that
 * reconnects asks the XBlock for a new one. Its MAC key is derived under its own `info`, so a
 * heartbeat token's signature never verifies as a terminal token's, nor the other way round.
 * Every character is an RFC 6455 subprotocol token character.
 */
const VERSION = 'tt1';
const LAB_ID_SOURCE = LAB_ID_PATTERN.source.slice(1, -1); // without its ^ and $ anchors
const TOKEN_PATTERN = new RegExp(
  `^tt1\\.(${LAB_ID_SOURCE})\\.(\\d{1,12})\\.(rw|ro)\\.([A-Za-z0-9_-]{43})$`,
);

/** How long a page has to open the terminal with a token it was given. */
export const TERMINAL_TOKEN_TTL_MS = 2 * 60_000;

export type TerminalTokenCheck =
  | { ok: true; labId: string; readOnly: boolean; expiresAt: Date }
  | { ok: false; reason: 'malformed' | 'tampered' | 'expired' };

export class TerminalTokens {
  private readonly mac: TokenMac;

  constructor(
    secretsKeys: SecretsKey[],
    private readonly now: () => number = Date.now,
  ) {
    this.mac = new TokenMac(secretsKeys, 'terminal-token v1', 'terminal tokens');
  }

  static looksLikeOne(token: string): boolean {
    return token.startsWith(`${VERSION}.`);
  }

  issue(
    labId: string,
    options: { readOnly: boolean; validForMs?: number },
  ): { token: string; expiresAt: Date } {
    if (!LAB_ID_PATTERN.test(labId)) throw new Error(`not a lab id: ${labId}`);
    const expiry = Math.ceil((this.now() + (options.validForMs ?? TERMINAL_TOKEN_TTL_MS)) / 1000);
    const payload = `${VERSION}.${labId}.${expiry}.${options.readOnly ? 'ro' : 'rw'}`;
    return { token: `${payload}.${this.mac.sign(payload)}`, expiresAt: new Date(expiry * 1000) };
  }

  verify(token: string): TerminalTokenCheck {
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return { ok: false, reason: 'malformed' };
    const [, labId, expiry, mode, signature] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    if (!this.mac.verify(`${VERSION}.${labId}.${expiry}.${mode}`, signature))
      return { ok: false, reason: 'tampered' };
    const expiresAt = new Date(Number(expiry) * 1000);
    if (expiresAt.getTime() <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, labId, readOnly: mode === 'ro', expiresAt };
  }
}
