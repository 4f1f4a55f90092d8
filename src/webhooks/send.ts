/**
 * One webhook delivery attempt, by the Standard Webhooks conventions (standardwebhooks.com):
 * signed `webhook-*` headers; a 2xx means delivered, a 410 means the receiver wants no more, and
 * anything else is tried again later on the caller's schedule. An attempt never throws: whatever
 * happens becomes an AttemptResult the delivery workflow can record and act on.
 */
import { Webhook } from 'standardwebhooks';

export interface WebhookMessage {
  /** The same on every attempt, so a receiver can drop a delivery it has already seen. */
  id: string;
  timestamp: Date;
  /** The JSON text, sent byte for byte: the signature covers these exact bytes. */
  body: string;
}

export interface AttemptResult {
  /** 2xx delivered; 410 gone (the receiver asks us to stop); anything else retry. */
  outcome: 'delivered' | 'retry' | 'gone';
  /** The HTTP status; null when no answer came (refused, reset, timed out). */
  status: number | null;
  /** From a Retry-After header on a non-2xx answer, in ms from now; null when absent or invalid. */
  retryAfterMs: number | null;
  /** What went wrong, one line, for operators; null when delivered. Never holds a secret. */
  error: string | null;
  durationMs: number;
}

const USER_AGENT = 'openedx-labs-webhooks/1';
const DEFAULT_MAX_RESPONSE_BYTES = 4096;
const MAX_ERROR_LENGTH = 300;

/**
 * The `webhook-signature` value: one `v1,<base64>` per secret, so during a rotation receivers
 * holding either the new or the old secret accept the delivery.
 */
export function signatureHeader(secrets: readonly string[], message: WebhookMessage): string {
  return secrets
    .map((secret) => new Webhook(secret).sign(message.id, message.timestamp, message.body))
    .join(' ');
}

// RFC 9110 §5.6.7: senders write IMF-fixdate, but recipients must still accept the obsolete
// RFC 850 and asctime forms, in this order. The patterns gate Date.parse, which on its own would
// read "7.5" as July 2001.
const HTTP_DATE_FORMS = [
  /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
  /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/,
  /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/,
];

/** Retry-After (delay-seconds or an HTTP-date) in ms after `now`; null if absent or invalid. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | null {
  const text = value?.trim() ?? '';
  if (/^\d+$/.test(text)) {
    const ms = Number(text) * 1000;
    return Number.isSafeInteger(ms) ? ms : null;
  }
  const form = HTTP_DATE_FORMS.findIndex((pattern) => pattern.test(text));
  if (form < 0) return null;
  // asctime carries no zone; HTTP dates are always GMT.
  const at = Date.parse(form === 2 ? `${text} GMT` : text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Reads a response body until `maxBytes` have arrived or it ends, then cancels it. Returns the
 * bytes read (the last chunk may overshoot). Cancelling a fetch body closes its connection, so an
 * endless answer costs one chunk of memory, not a buffer that grows until the timeout.
 */
export async function readAtMost(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<number> {
  if (!body) return 0;
  const reader = body.getReader();
  let read = 0;
  try {
    while (read < maxBytes) {
      const chunk = await reader.read();
      if (chunk.done) break;
      read += chunk.value.byteLength;
    }
    return read;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** POSTs `message` once to `target.url`, signed with every secret in `target.secrets`. */
export async function sendWebhook(
  target: { url: string; secrets: readonly string[] },
  message: WebhookMessage,
  options: { timeoutMs: number; maxResponseBytes?: number },
): Promise<AttemptResult> {
  const started = performance.now();
  const result = (
    outcome: AttemptResult['outcome'],
    status: number | null,
    error: string | null,
    retryAfterMs: number | null = null,
  ): AttemptResult => ({
    outcome,
    status,
    retryAfterMs,
    error: error === null ? null : oneLine(error),
    durationMs: Math.round(performance.now() - started),
  });

  const signing = deliveryHeaders(target.secrets, message);
  if (typeof signing === 'string') return result('retry', null, signing);

  // One deadline for connect, headers and body: a receiver that trickles bytes cannot hold a
  // worker slot longer than the timeout.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  try {
    const response = await fetch(target.url, {
      method: 'POST',
      headers: signing,
      body: message.body,
      // Following a redirect would send the signed event somewhere the operator never configured.
      redirect: 'manual',
      signal: controller.signal,
    });
    const { status } = response;
    const retryAfterMs = response.ok
      ? null
      : parseRetryAfter(response.headers.get('retry-after'), Date.now());
    // The answer's body means nothing to us, but reading (a bounded part of) it lets a short one
    // leave the connection reusable. The status already decided the outcome, so a body cut short
    // by the deadline or a reset changes nothing.
    const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    await readAtMost(response.body, maxBytes).catch(() => 0);
    if (response.ok) return result('delivered', status, null);
    if (status === 410) return result('gone', status, 'HTTP 410 (the receiver asks us to stop)');
    const location = response.headers.get('location');
    if (status >= 300 && status < 400 && location !== null)
      return result(
        'retry',
        status,
        `redirect to ${resolve(location, target.url)} not followed`,
        retryAfterMs,
      );
    return result('retry', status, `HTTP ${status}`, retryAfterMs);
  } catch (err) {
    return result(
      'retry',
      null,
      timedOut ? `timed out after ${options.timeoutMs / 1000} s` : networkProblem(err),
    );
  } finally {
    clearTimeout(timer);
  }
}

/** The request headers, or what stops us signing (worded without the secret itself). */
function deliveryHeaders(
  secrets: readonly string[],
  message: WebhookMessage,
): Record<string, string> | string {
  if (secrets.length === 0) return 'no signing secret configured';
  const seconds = Math.floor(message.timestamp.getTime() / 1000);
  if (!Number.isFinite(seconds)) return 'the message timestamp is not a valid date';
  let signature: string;
  try {
    signature = signatureHeader(secrets, message);
  } catch {
    // The library's message may quote the bad input; ours only says which one.
    const bad = secrets.findIndex((secret) => !isValidSecret(secret));
    const which = `signing secret ${bad + 1} of ${secrets.length}`;
    return `${which} is not a Standard Webhooks secret (whsec_ and base64)`;
  }
  return {
    'content-type': 'application/json',
    'webhook-id': message.id,
    'webhook-timestamp': String(seconds),
    'webhook-signature': signature,
    'user-agent': USER_AGENT,
  };
}

function isValidSecret(secret: string): boolean {
  try {
    new Webhook(secret);
    return true;
  } catch {
    return false;
  }
}

// Node's fetch rejects with "fetch failed" and keeps the reason in `cause`.
const NETWORK_PROBLEMS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection closed by the receiver',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connect timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
};

/**
 * The fields we read from a thrown value. Not `instanceof Error`: fetch's errors may come from
 * another realm (Jest's sandbox, a vm context), where that test is false.
 */
interface ErrorLike {
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
}

function networkProblem(err: unknown): string {
  const thrown = asErrorLike(err) ?? {};
  let reason = asErrorLike(thrown.cause) ?? thrown;
  // Happy eyeballs tries every address and reports an AggregateError: the first says enough.
  if (Array.isArray(reason.errors)) reason = asErrorLike(reason.errors[0]) ?? reason;
  const message = typeof reason.message === 'string' ? reason.message : String(err);
  if (typeof reason.code === 'string') {
    const known = NETWORK_PROBLEMS[reason.code];
    if (known) return known;
    if (/CERT|TLS|SSL/.test(reason.code)) return `TLS: ${message}`;
  }
  return message || 'request failed';
}

function asErrorLike(value: unknown): ErrorLike | undefined {
  return typeof value === 'object' && value !== null ? (value as ErrorLike) : undefined;
}

/** A Location as an absolute URL, so the operator sees where the receiver wanted to send us. */
function resolve(location: string, base: string): string {
  try {
    return new URL(location, base).href;
  } catch {
    return location;
  }
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_ERROR_LENGTH ? `${line.slice(0, MAX_ERROR_LENGTH - 1)}…` : line;
}
