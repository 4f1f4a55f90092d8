/** Errors with an HTTP status and a stable code, thrown anywhere in a route and rendered in one place (error-middleware.ts). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The body every error answers with: `{ error: { code, message, details? } }`. */
export const errorBody = (error: ApiError) => ({
  error: {
    code: error.code,
    message: error.message,
    ...(error.details !== undefined ? { details: error.details } : {}),
  },
});

export const badRequest = (message: string, details?: unknown) =>
  new ApiError(400, 'invalid_input', message, details);
export const unauthorized = (message = 'a valid bearer token is required') =>
  new ApiError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer' });
export const expiredHeartbeatToken = () => unauthorized('the heartbeat token is expired');
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
export const notFound = (message: string) => new ApiError(404, 'not_found', message);
export const conflict = (message: string, details?: unknown) =>
  new ApiError(409, 'invalid_state', message, details);
export const payloadTooLarge = (limit: number) =>
  new ApiError(413, 'payload_too_large', `the request body is over ${limit} bytes`);
export const unsupportedMediaType = () =>
  new ApiError(415, 'unsupported_media_type', 'the request body must be application/json');
export const unknownLab = (name: string) =>
  new ApiError(422, 'unknown_lab', `no lab named "${name}" in the catalog`, {
    field: 'lab',
    in: 'body',
  });
/** `scope`: whose bucket is empty (the token's ceiling, or one lab's or learner's under it). */
export const tooManyRequests = (
  retryAfterSeconds: number,
  scope: 'token' | 'lab' | 'learner' = 'token',
) =>
  new ApiError(
    429,
    'rate_limited',
    `too many requests for this ${scope}`,
    { scope },
    { 'Retry-After': String(retryAfterSeconds) },
  );
export const unavailable = (message: string) => new ApiError(503, 'unavailable', message);

/** The error statuses every route documents in OpenAPI, with what they mean. */
export const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'invalid input; details name the field',
  401: 'missing, malformed, expired or tampered token',
  403: "the token may not do this (launch: usage_limit, the learner's lab time is used up)",
  404: 'unknown lab',
  409: 'not allowed in the lab state',
  413: 'request body over 64 KiB',
  415: 'request body not JSON',
  422: 'unknown lab name',
  426: 'a WebSocket route asked without Upgrade: websocket',
  429: 'rate limit for this token, or for this lab or learner under a service token; details.scope says which; see Retry-After',
  503: 'a dependency (Temporal or MongoDB) is down',
};
