import { createHash, timingSafeEqual } from 'node:crypto';
import type { Environment } from '../../config';
import { ApiError, expiredHeartbeatToken, forbidden, unauthorized } from '../errors';
import { HeartbeatTokens } from './heartbeat-token';

/**
 * Who is calling. `key` identifies a service or admin token for rate limiting without holding it.
 * A heartbeat token past its expiry keeps `expiredAt`: it still counts for its own lab's
 * heartbeats while that lab's life lasts (the heartbeat route decides), and nowhere else.
 */
export type Principal =
  | { kind: 'service' | 'admin'; key: string }
  | { kind: 'heartbeat'; labId: string; expiredAt: Date | null };

/**
 * What a route requires: `labs` (service or admin), `service` (service only: /connection),
 * `admin`, `heartbeat` (service, admin, or the lab's own heartbeat token), `public` (no token).
 */
export type Access = 'public' | 'labs' | 'service' | 'admin' | 'heartbeat';

// RFC 6750 b64token.
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Turns an Authorization header into a principal. Configured tokens are compared as SHA-256
 * digests with timingSafeEqual (equal lengths whatever the token's length), against every
 * configured token without an early exit, so response time does not leak a token's prefix.
 */
export class Authenticator {
  private readonly known: Array<{ kind: 'service' | 'admin'; digest: Buffer; key: string }>;

  constructor(
    env: Environment,
    readonly heartbeatTokens: HeartbeatTokens,
  ) {
    const entries = (kind: 'service' | 'admin', tokens: string[]) =>
      tokens.map((token) => {
        const d = digest(token);
        return { kind, digest: d, key: `${kind}:${d.toString('hex').slice(0, 16)}` };
      });
    this.known = [...entries('service', env.serviceTokens), ...entries('admin', env.adminTokens)];
  }

  authenticate(header: string | undefined): Principal {
    if (!header) throw unauthorized();
    const match = BEARER.exec(header);
    if (!match) throw unauthorized('the Authorization header must be "Bearer <token>"');
    const token = match[1]!;
    const given = digest(token);
    let found: (typeof this.known)[number] | undefined;
    for (const entry of this.known) {
      if (timingSafeEqual(entry.digest, given)) found ??= entry;
    }
    if (found) return { kind: found.kind, key: found.key };
    if (HeartbeatTokens.looksLikeOne(token)) {
      const check = this.heartbeatTokens.verify(token);
      if (check.ok) return { kind: 'heartbeat', labId: check.labId, expiredAt: null };
      if (check.reason === 'expired')
        return { kind: 'heartbeat', labId: check.labId, expiredAt: check.expiresAt };
      throw unauthorized(`the heartbeat token is ${check.reason}`);
    }
    throw unauthorized('unknown token');
  }
}

/** 403 unless `principal` may use a route of `access` (for `heartbeat`, on lab `labId`). */
export function authorize(access: Access, principal: Principal, labId: string | undefined): void {
  const deny = (message: string): ApiError => forbidden(message);
  // An expired heartbeat token is good for its own lab's heartbeat only (HeartbeatRelay decides).
  if (principal.kind === 'heartbeat' && principal.expiredAt !== null) {
    if (access !== 'heartbeat' || principal.labId !== labId) throw expiredHeartbeatToken();
    return;
  }
  switch (access) {
    case 'public':
      return;
    case 'labs':
      if (principal.kind === 'heartbeat')
        throw deny('a heartbeat token is only for its lab heartbeat');
      return;
    case 'service':
      if (principal.kind !== 'service') throw deny('only a service token may do this');
      return;
    case 'admin':
      if (principal.kind !== 'admin') throw deny('only an admin token may do this');
      return;
    case 'heartbeat':
      if (principal.kind === 'heartbeat' && principal.labId !== labId)
        throw deny('this heartbeat token belongs to another lab');
      return;
  }
}
