import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import {
  HeatBadRequestError,
  HeatConflictError,
  HeatForbiddenError,
  HeatNotFoundError,
  HeatOverLimitError,
  HeatUnauthorizedError,
  HeatUnavailableError,
  type HeatError,
} from './errors';

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * `always`: the call is safe to repeat (GET, DELETE, stack actions, validate, token issue).
 * `refusedOnly`: repeat only when the connection was refused, i.e. nothing reached the server;
 * used for stack create, where a repeat after an unknown outcome would make a second stack (the
 * caller adopts the stack by its deterministic name instead).
 */
export type RetryMode = 'always' | 'refusedOnly';

export interface ErrorContext {
  provider: string;
  stackName?: string;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 5_000 };

/** Connection-level failures that say the cloud may answer later. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ERR_NETWORK',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

export function createAxios(): AxiosInstance {
  // Redirects are ours to follow: Heat answers 302 to POST and DELETE on a stack name too, and a
  // generic follower would turn those into GETs.
  return axios.create({ maxRedirects: 0, validateStatus: () => true, proxy: false });
}

/**
 * One HTTP exchange with a hard deadline: the timeout covers connect, send and the whole body, so
 * a server that accepts the connection and never answers cannot hold the caller.
 */
export async function sendOnce(
  http: AxiosInstance,
  request: AxiosRequestConfig,
  timeoutMs: number,
  context: ErrorContext,
  signal?: AbortSignal,
): Promise<AxiosResponse> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
  try {
    return await http.request({ ...request, signal: combined, timeout: timeoutMs });
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error;
    const code = axios.isAxiosError(error) ? error.code : undefined;
    const timedOut = deadline.aborted || code === 'ECONNABORTED' || code === 'ETIMEDOUT';
    const where = `${request.method ?? 'GET'} ${stripQuery(request.url)}`;
    throw new HeatUnavailableError(
      timedOut
        ? `${where} timed out after ${timeoutMs} ms`
        : `${where} failed: ${code ?? (error instanceof Error ? error.message : String(error))}`,
      { ...context, code: timedOut ? 'ETIMEDOUT' : code, cause: error },
    );
  }
}

export function isTransient(error: unknown, mode: RetryMode): boolean {
  if (!(error instanceof HeatUnavailableError)) return false;
  if (mode === 'refusedOnly') return error.code === 'ECONNREFUSED';
  return error.status !== undefined || error.code === undefined || TRANSIENT_CODES.has(error.code);
}

/** Exponential backoff with full jitter: a random wait in [0, min(max, base * 2^n)]. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random = Math.random): number {
  return Math.floor(random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function withRetry<T>(
  attemptOnce: () => Promise<T>,
  mode: RetryMode,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptOnce();
    } catch (error) {
      if (attempt + 1 >= policy.attempts || !isTransient(error, mode)) throw error;
      await sleep(backoffDelay(attempt, policy), signal);
    }
  }
}

interface FaultBody {
  type?: string;
  message: string;
}

/** Reads Heat's fault format, keystonemiddleware's, the 503 page's, or falls back to the text. */
export function readFault(response: AxiosResponse): FaultBody {
  const body: unknown = response.data;
  if (isRecord(body)) {
    const error = body.error;
    if (isRecord(error) && typeof error.message === 'string') {
      return {
        type: typeof error.type === 'string' ? error.type : undefined,
        message: error.message,
      };
    }
    if (typeof body.message === 'string') {
      return {
        message: body.message
          .replace(/<br \/>/g, ' ')
          .replace(/\s+/g, ' ')
          .trim(),
      };
    }
    if (typeof body.explanation === 'string') return { message: body.explanation };
  }
  if (typeof body === 'string' && body.trim()) {
    return {
      message: body
        .replace(/<[^>]*>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim()
        .slice(0, 500),
    };
  }
  return { message: `HTTP ${response.status} ${response.statusText ?? ''}`.trim() };
}

const OVER_LIMIT = /quota|over ?limit|limit exceeded|exceeds? .*limit|maximum .* per tenant/i;

export function errorFromResponse(response: AxiosResponse, context: ErrorContext): HeatError {
  const { type, message } = readFault(response);
  const details = { ...context, status: response.status, heatType: type };
  const status = response.status;
  if (status === 413 || type === 'RequestLimitExceeded' || type === 'OverLimit')
    return new HeatOverLimitError(message, details);
  if (status === 403 && OVER_LIMIT.test(message)) return new HeatOverLimitError(message, details);
  if (status === 400) return new HeatBadRequestError(message, details);
  if (status === 401) return new HeatUnauthorizedError(message, details);
  if (status === 403) return new HeatForbiddenError(message, details);
  if (status === 404) return new HeatNotFoundError(message, details);
  if (status === 409) return new HeatConflictError(message, details);
  if (status === 429 || status >= 500) return new HeatUnavailableError(message, details);
  return new HeatBadRequestError(message, details);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stripQuery(url: string | undefined): string {
  return (url ?? '').split('?')[0] ?? '';
}
