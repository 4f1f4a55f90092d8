import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import type { CheckRunView } from '../../api/checks/schema';
import type { LabView } from '../../api/labs/schema';
import type { DeliveryView } from '../../api/webhooks';
import type { GroupBy, UsageReport } from '../../usage/report';
import { CliError, EXIT } from './exit-codes';
/** The lab actions are the workflow's (workflows/state.ts); labctl reaches them through the API. */
import type { LabAction } from '../../../workflows/state';
export type { LabAction, CheckRunView, DeliveryView };

export type Lab = LabView;

export interface LabPage {
  labs: Lab[];
  nextCursor: string | null;
}

export interface LabEventView {
  at: string;
  from: string | null;
  to: string;
  generation: number;
  provider: string | null;
  reason: string;
  error: { code: string; message: string } | null;
}

export interface ProviderView {
  name: string;
  region: string;
  capacity: number;
  used: number;
  queued: number;
}

/** GET /v1/reports/usage as JSON. */
export interface UsageReportView extends UsageReport {
  courseId: string | null;
}

export interface UsageReportQuery {
  courseId?: string;
  from?: string;
  to?: string;
  groupBy?: GroupBy;
}

/** A grant of extra lab time (POST and GET /v1/usage/grants). */
export interface UsageGrantView {
  id: string;
  courseId: string;
  learnerId: string;
  /** null: every lab of the course. */
  lab: string | null;
  extraSeconds: number;
  reason: string;
  grantedBy: string;
  at: string;
}

export interface UsageRebuildView {
  labs: number;
  lines: number;
  skipped: number;
}

interface ApiErrorBody {
  error?: { code?: string; message?: string; details?: unknown };
}

/** Hints for the errors support staff meet first, beside the API's own message. */
const HINTS: Record<number, string> = {
  401: 'set LABCTL_TOKEN (or --token) to one of the LABS_ADMIN_TOKENS',
  403: 'labctl needs an admin token (one of LABS_ADMIN_TOKENS), not a service token',
  409: 'see the lab with `labctl show ID`',
  429: 'too many requests with this token: wait and try again',
};

/** The lab orchestrator's HTTP API as labctl uses it: every answer or a CliError. */
export class LabsApiClient {
  private readonly http: AxiosInstance;

  constructor(
    readonly baseUrl: string,
    token: string,
  ) {
    this.http = axios.create({
      baseURL: baseUrl,
      headers: { Authorization: `Bearer ${token}` },
      validateStatus: () => true,
      // Long-polls hold a request up to 60 s; anything much longer is a network problem.
      timeout: 90_000,
    });
  }

  listLabs(query: Record<string, string | number | undefined>): Promise<LabPage> {
    return this.call('get', '/v1/labs', { params: query });
  }

  getLab(id: string, waitSeconds?: number): Promise<Lab> {
    return this.call('get', `/v1/labs/${id}`, {
      params: waitSeconds ? { wait: waitSeconds } : {},
    });
  }

  async labEvents(id: string, limit: number): Promise<LabEventView[]> {
    const body = await this.call<{ events: LabEventView[] }>('get', `/v1/labs/${id}/events`, {
      params: { limit },
    });
    return body.events;
  }

  act(id: string, action: LabAction): Promise<Lab> {
    return action === 'delete'
      ? this.call('delete', `/v1/labs/${id}`)
      : this.call('post', `/v1/labs/${id}/${action}`);
  }

  runChecks(id: string): Promise<CheckRunView> {
    return this.call('post', `/v1/labs/${id}/checks`);
  }

  checkRun(id: string, checkId: string, waitSeconds: number): Promise<CheckRunView> {
    return this.call('get', `/v1/labs/${id}/checks/${checkId}`, { params: { wait: waitSeconds } });
  }

  async checkRuns(id: string, limit: number): Promise<CheckRunView[]> {
    const body = await this.call<{ checks: CheckRunView[] }>('get', `/v1/labs/${id}/checks`, {
      params: { limit },
    });
    return body.checks;
  }

  async deliveries(query: Record<string, string | number | undefined>): Promise<DeliveryView[]> {
    const body = await this.call<{ deliveries: DeliveryView[] }>('get', '/v1/webhooks/deliveries', {
      params: query,
    });
    return body.deliveries;
  }

  async providers(): Promise<ProviderView[]> {
    return (await this.call<{ providers: ProviderView[] }>('get', '/v1/providers')).providers;
  }

  usageReport(query: UsageReportQuery): Promise<UsageReportView> {
    return this.call('get', '/v1/reports/usage', { params: { ...query } });
  }

  /** The report as the API renders it in CSV (Accept: text/csv), unparsed. */
  usageReportCsv(query: UsageReportQuery): Promise<string> {
    return this.call('get', '/v1/reports/usage', { params: { ...query }, accept: 'text/csv' });
  }

  rebuildUsage(labId?: string): Promise<UsageRebuildView> {
    return this.call('post', '/v1/usage/rebuild', { body: labId ? { labId } : {} });
  }

  grantUsage(grant: {
    courseId: string;
    learnerId: string;
    lab?: string;
    /** A duration such as "5h". */
    extra: string;
    reason: string;
  }): Promise<UsageGrantView> {
    return this.call('post', '/v1/usage/grants', { body: grant });
  }

  async usageGrants(query: { courseId: string; learnerId?: string }): Promise<UsageGrantView[]> {
    const body = await this.call<{ grants: UsageGrantView[] }>('get', '/v1/usage/grants', {
      params: query,
    });
    return body.grants;
  }

  private async call<T>(
    method: 'get' | 'post' | 'delete',
    path: string,
    options: {
      params?: Record<string, string | number | undefined>;
      /** Sent as JSON. */
      body?: object;
      /** A media type other than JSON: the answer comes back as text. */
      accept?: string;
    } = {},
  ): Promise<T> {
    let res: AxiosResponse<unknown>;
    try {
      res = await this.http.request({
        method,
        url: path,
        params: options.params,
        data: options.body,
        ...(options.accept
          ? { headers: { Accept: options.accept }, responseType: 'text' as const }
          : {}),
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new CliError(
        `cannot reach the API at ${this.baseUrl}${code ? ` (${code})` : ''}: ${(err as Error).message}` +
          '\n  set LABCTL_URL (or --url) to where the lab orchestrator API listens',
        EXIT.unavailable,
      );
    }
    if (res.status >= 200 && res.status < 300) return res.data as T;
    throw apiFailure(method, path, res);
  }
}

/** An error answer's body; one asked for as text (a CSV) arrives as the JSON's text. */
function errorBodyOf(data: unknown): ApiErrorBody {
  let body = data;
  if (typeof data === 'string') {
    try {
      body = JSON.parse(data) as unknown;
    } catch {
      return {};
    }
  }
  return (typeof body === 'object' && body !== null ? body : {}) as ApiErrorBody;
}

function apiFailure(method: string, path: string, res: AxiosResponse<unknown>): CliError {
  const body = errorBodyOf(res.data);
  const code = body.error?.code ?? 'http_error';
  const message = body.error?.message ?? (typeof res.data === 'string' ? res.data : res.statusText);
  const lines = [`${method.toUpperCase()} ${path}: ${res.status} ${code}: ${message}`];
  if (body.error?.details !== undefined)
    lines.push(`  details: ${JSON.stringify(body.error.details)}`);
  const retryAfter = res.headers['retry-after'] as string | undefined;
  if (retryAfter) lines.push(`  retry after ${retryAfter} s`);
  const hint = HINTS[res.status];
  if (hint) lines.push(`  hint: ${hint}`);
  return new CliError(lines.join('\n'), res.status >= 500 ? EXIT.unavailable : EXIT.apiError);
}
