import type { AxiosInstance } from 'axios';
import type { ProviderAuth, ProviderConfig } from '../config/types';
import { HeatBadRequestError } from './errors';
import {
  errorFromResponse,
  isRecord,
  sendOnce,
  withRetry,
  type ErrorContext,
  type RetryPolicy,
} from './http';

export interface KeystoneSession {
  token: string;
  /** Epoch ms. */
  issuedAt: number;
  /** Epoch ms. */
  expiresAt: number;
  projectId: string;
  /** The catalog's orchestration endpoint for the provider's region and interface, no trailing slash. */
  orchestrationUrl: string;
}

export interface KeystoneOptions {
  http: AxiosInstance;
  timeoutMs: number;
  retry: RetryPolicy;
  /** Renew this long before expiry (capped at half the token's lifetime). */
  renewBeforeMs?: number;
  now?: () => number;
}

/** `.../v3` or the bare Keystone root, with or without a trailing slash. */
export function tokensUrl(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? `${base}/auth/tokens` : `${base}/v3/auth/tokens`;
}

type Named = { name?: string; id?: string; domainName?: string; domainId?: string };

function domainOf(entity: Named): { id: string } | { name: string } | undefined {
  if (entity.domainId) return { id: entity.domainId };
  if (entity.domainName) return { name: entity.domainName };
  return undefined;
}

function byIdOrName(entity: Named): Record<string, unknown> {
  if (entity.id) return { id: entity.id };
  const domain = domainOf(entity);
  return domain ? { name: entity.name, domain } : { name: entity.name };
}

export function authRequestBody(auth: ProviderAuth): Record<string, unknown> {
  if (auth.kind === 'applicationCredential') {
    // An application credential is already bound to its project: Keystone refuses a scope here.
    return {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: auth.applicationCredentialId, secret: auth.secret },
        },
      },
    };
  }
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { ...byIdOrName(auth.user), password: auth.password } },
      },
      scope: { project: byIdOrName(auth.project) },
    },
  };
}

interface CatalogEndpoint {
  interface?: string;
  region?: string;
  region_id?: string;
  url?: string;
}

export function findEndpoint(
  catalog: unknown,
  serviceType: string,
  region: string,
  endpointInterface: string,
): string | undefined {
  if (!Array.isArray(catalog)) return undefined;
  for (const service of catalog) {
    if (!isRecord(service) || service.type !== serviceType || !Array.isArray(service.endpoints))
      continue;
    for (const endpoint of service.endpoints as CatalogEndpoint[]) {
      const inRegion = endpoint.region_id === region || endpoint.region === region;
      if (inRegion && endpoint.interface === endpointInterface && endpoint.url)
        return endpoint.url.replace(/\/+$/, '');
    }
  }
  return undefined;
}

/**
 * Keystone v3 tokens for one provider: issued on first use, shared by concurrent callers, renewed
 * before expiry, and dropped when Heat says the token is no longer valid.
 */
export class KeystoneAuth {
  private current?: KeystoneSession;
  private pending?: Promise<KeystoneSession>;
  private readonly now: () => number;
  private readonly context: ErrorContext;

  constructor(
    private readonly provider: ProviderConfig,
    private readonly options: KeystoneOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.context = { provider: provider.name };
  }

  async session(signal?: AbortSignal): Promise<KeystoneSession> {
    if (this.current && !this.needsRenewal(this.current)) return this.current;
    this.pending ??= this.issue(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forget `token` (Heat answered 401 with it); a token already replaced is left alone. */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }

  private needsRenewal(session: KeystoneSession): boolean {
    // A short-lived token must still be used: renew at half its life when that comes first.
    const lifetime = session.expiresAt - session.issuedAt;
    const renewBefore = Math.min(this.options.renewBeforeMs ?? 5 * 60_000, lifetime / 2);
    return session.expiresAt - this.now() <= renewBefore;
  }

  private async issue(signal?: AbortSignal): Promise<KeystoneSession> {
    const { http, timeoutMs, retry } = this.options;
    const auth = this.provider.auth;
    const response = await withRetry(
      async () => {
        const res = await sendOnce(
          http,
          {
            method: 'POST',
            url: tokensUrl(auth.authUrl),
            data: authRequestBody(auth),
            headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          },
          timeoutMs,
          this.context,
          signal,
        );
        if (res.status !== 201 && res.status !== 200) throw errorFromResponse(res, this.context);
        return res;
      },
      'always',
      retry,
      signal,
    );
    const token = response.headers['x-subject-token'];
    const body: unknown = response.data;
    const tokenBody = isRecord(body) && isRecord(body.token) ? body.token : undefined;
    if (typeof token !== 'string' || !tokenBody)
      throw new HeatBadRequestError('Keystone answered without a token', this.context);
    const project = isRecord(tokenBody.project) ? tokenBody.project : undefined;
    const orchestrationUrl = findEndpoint(
      tokenBody.catalog,
      'orchestration',
      this.provider.region,
      auth.interface,
    );
    if (!orchestrationUrl)
      throw new HeatBadRequestError(
        `no orchestration endpoint for region ${this.provider.region} and interface ${auth.interface} in the Keystone catalog`,
        this.context,
      );
    const issuedAt = this.now();
    const expiresAt =
      typeof tokenBody.expires_at === 'string'
        ? Date.parse(tokenBody.expires_at)
        : issuedAt + 3_600_000;
    const session: KeystoneSession = {
      token,
      issuedAt,
      expiresAt: Number.isNaN(expiresAt) ? issuedAt + 3_600_000 : expiresAt,
      projectId: typeof project?.id === 'string' ? project.id : '',
      orchestrationUrl,
    };
    this.current = session;
    return session;
  }
}
