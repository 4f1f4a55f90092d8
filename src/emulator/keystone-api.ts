import { createHash, randomBytes } from 'node:crypto';
import { isRecord, json, keystoneTime, type Reply } from './http-util';

export interface EmulatorUser {
  name: string;
  password: string;
  /** Project the user may scope to; any project when absent. */
  project?: string;
  domain?: string;
}

export interface EmulatorAppCredential {
  id: string;
  secret: string;
  project: string;
}

export interface TokenInfo {
  userId: string;
  userName: string;
  projectId: string;
  projectName: string;
  expiresAt: number;
}

export interface KeystoneSettings {
  /** Accepted password users; when absent, any name and password is accepted. */
  users?: EmulatorUser[];
  /** Accepted application credentials; when absent, any id and secret is accepted. */
  applicationCredentials?: EmulatorAppCredential[];
  region: string;
  tokenTtlMs: number;
}

/** Deterministic ids (32 hex, like Keystone's) so a restarted emulator keeps the same URLs. */
export const keystoneId = (...parts: string[]): string =>
  createHash('md5').update(parts.join('\u0000')).digest('hex');

const DEFAULT_DOMAIN = { id: 'default', name: 'Default' };

const unauthorized = (base: string): Reply =>
  json(
    401,
    {
      error: {
        code: 401,
        message: 'The request you have made requires authentication.',
        title: 'Unauthorized',
      },
    },
    { 'WWW-Authenticate': `Keystone uri="${base}/v3"` },
  );

const badAuthRequest = (message: string): Reply =>
  json(400, { error: { code: 400, message, title: 'Bad Request' } });

export class KeystoneEmulator {
  readonly tokens = new Map<string, TokenInfo>();

  constructor(private readonly settings: KeystoneSettings) {}

  versionDocument(base: string): Reply {
    return json(200, {
      version: {
        id: 'v3.14',
        status: 'stable',
        updated: '2020-04-07T00:00:00Z',
        links: [{ rel: 'self', href: `${base}/v3/` }],
        'media-types': [
          { base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' },
        ],
      },
    });
  }

  /** A valid, unexpired token's owner, or undefined. */
  check(token: string | undefined): TokenInfo | undefined {
    if (!token) return undefined;
    const info = this.tokens.get(token);
    if (!info || info.expiresAt <= Date.now()) return undefined;
    return info;
  }

  revokeAll(): void {
    this.tokens.clear();
  }

  issue(base: string, body: unknown): Reply {
    const auth = isRecord(body) && isRecord(body.auth) ? body.auth : undefined;
    const identity = auth && isRecord(auth.identity) ? auth.identity : undefined;
    const methods = identity && Array.isArray(identity.methods) ? identity.methods : [];
    if (!identity || methods.length === 0)
      return badAuthRequest("Invalid input for field 'identity': 'methods' is a required property");
    let info: Omit<TokenInfo, 'expiresAt'> | undefined;
    let method = 'password';
    if (methods.includes('application_credential')) {
      method = 'application_credential';
      info = this.applicationCredential(identity.application_credential);
    } else if (methods.includes('password')) {
      info = this.password(identity.password, auth?.scope);
    }
    if (!info) return unauthorized(base);
    const issuedAt = Date.now();
    const token = `gAAAAA${randomBytes(132).toString('base64url')}`;
    const full: TokenInfo = { ...info, expiresAt: issuedAt + this.settings.tokenTtlMs };
    this.tokens.set(token, full);
    return json(
      201,
      {
        token: {
          methods: [method],
          user: {
            domain: DEFAULT_DOMAIN,
            id: full.userId,
            name: full.userName,
            password_expires_at: null,
          },
          audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
          expires_at: keystoneTime(full.expiresAt),
          issued_at: keystoneTime(issuedAt),
          project: { domain: DEFAULT_DOMAIN, id: full.projectId, name: full.projectName },
          is_domain: false,
          roles: [
            { id: keystoneId('role', 'reader'), name: 'reader' },
            { id: keystoneId('role', 'member'), name: 'member' },
          ],
          catalog: this.catalog(base, full.projectId),
        },
      },
      { 'X-Subject-Token': token },
    );
  }

  private catalog(base: string, projectId: string): unknown[] {
    const endpoints = (url: string, service: string): unknown[] =>
      (['public', 'internal', 'admin'] as const).map((iface) => ({
        id: keystoneId('endpoint', service, iface),
        interface: iface,
        region_id: this.settings.region,
        url,
        region: this.settings.region,
      }));
    return [
      {
        endpoints: endpoints(`${base}/v3`, 'identity'),
        id: keystoneId('service', 'identity'),
        type: 'identity',
        name: 'keystone',
      },
      {
        endpoints: endpoints(`${base}/v1/${projectId}`, 'orchestration'),
        id: keystoneId('service', 'orchestration'),
        type: 'orchestration',
        name: 'heat',
      },
    ];
  }

  private password(password: unknown, scope: unknown): Omit<TokenInfo, 'expiresAt'> | undefined {
    const user = isRecord(password) && isRecord(password.user) ? password.user : undefined;
    if (!user || typeof user.password !== 'string') return undefined;
    const project = isRecord(scope) && isRecord(scope.project) ? scope.project : undefined;
    const userName = typeof user.name === 'string' ? user.name : String(user.id ?? '');
    const projectName =
      typeof project?.name === 'string'
        ? project.name
        : typeof project?.id === 'string'
          ? project.id
          : userName;
    const users = this.settings.users;
    if (users) {
      const match = users.find(
        (u) =>
          (u.name === userName || keystoneId('user', u.name) === user.id) &&
          u.password === user.password &&
          (!u.project ||
            u.project === projectName ||
            keystoneId('project', u.project) === project?.id),
      );
      if (!match) return undefined;
    }
    const projectId =
      typeof project?.id === 'string' ? project.id : keystoneId('project', projectName);
    return {
      userId: typeof user.id === 'string' ? user.id : keystoneId('user', userName),
      userName,
      projectId,
      projectName,
    };
  }

  private applicationCredential(credential: unknown): Omit<TokenInfo, 'expiresAt'> | undefined {
    if (!isRecord(credential)) return undefined;
    const id = String(credential.id ?? '');
    const secret = String(credential.secret ?? '');
    if (!id || !secret) return undefined;
    const known = this.settings.applicationCredentials;
    const match = known?.find((c) => c.id === id && c.secret === secret);
    if (known && !match) return undefined;
    const projectName = match?.project ?? `appcred-${id.slice(0, 8)}`;
    return {
      userId: keystoneId('appcred-user', id),
      userName: `appcred-${id.slice(0, 8)}`,
      projectId: keystoneId('project', projectName),
      projectName,
    };
  }
}
