import type { IncomingMessage } from 'node:http';

/** What a handler answers; the server writes it (or, under a fault, drops it). */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Serialised as JSON (`null` included: Heat's action answer is literally `null`). */
  json?: unknown;
  /** A text body (HTML pages) instead of JSON. */
  text?: string;
}

export class HttpFailure extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const EXPLANATIONS: Record<number, string> = {
  400: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  403: 'Access was denied to this resource.',
  404: 'The resource could not be found.',
  409: 'There was a conflict when trying to complete your request.',
  413: 'The request is larger than the server is willing or able to process.',
  500: 'The server has either erred or is incapable of performing the requested operation.',
  503: 'The server is currently unavailable. Please try again at a later time.',
};

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return { status, json: body, headers };
}

/** Heat's own fault format (heat/api/middleware/fault.py). */
export function heatFault(status: number, type: string, message: string): Reply {
  return json(status, {
    code: status,
    title: TITLES[status] ?? 'Error',
    explanation: EXPLANATIONS[status] ?? '',
    error: { type, traceback: null, message },
  });
}

export function heatError(status: number, type: string, message: string): HttpFailure {
  return new HttpFailure(heatFault(status, type, message));
}

export const stackNotFound = (key: string): HttpFailure =>
  heatError(404, 'EntityNotFound', `The Stack (${key}) could not be found.`);

export const badRequest = (message: string, type = 'HTTPBadRequest'): HttpFailure =>
  heatError(400, type, message);

/** keystonemiddleware's answer (not Heat's format) for a missing or invalid token. */
export function keystoneUnauthorized(keystoneUri: string): Reply {
  return json(
    401,
    {
      error: {
        code: 401,
        title: 'Unauthorized',
        message: 'The request you have made requires authentication.',
      },
    },
    { 'WWW-Authenticate': `Keystone uri="${keystoneUri}"` },
  );
}

/** webob's page for a path no route matches: HTML, not JSON. */
export function htmlNotFound(): Reply {
  return {
    status: 404,
    headers: { 'Content-Type': 'text/html; charset=UTF-8' },
    text: '<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\n\n\n\n </body>\n</html>',
  };
}

export function redirect(location: string, acceptsJson: boolean): Reply {
  if (acceptsJson) {
    return json(
      302,
      {
        message: `The resource was found at <a href="${location}">${location}</a>;\nyou should be redirected automatically.\n\n`,
        code: '302 Found',
        title: 'Found',
      },
      { Location: location },
    );
  }
  return {
    status: 302,
    headers: { Location: location, 'Content-Type': 'text/html; charset=UTF-8' },
    text: `<html>\n <head>\n  <title>302 Found</title>\n </head>\n <body>\n  <h1>302 Found</h1>\n  The resource was found at <a href="${location}">${location}</a>;\nyou should be redirected automatically.\n\n\n </body>\n</html>`,
  };
}

export async function readBody(req: IncomingMessage, limit = 5 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit)
      throw heatError(413, 'RequestLimitExceeded', 'Request limit exceeded: body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JSON body the way heat-api reports failures (Python's json message). */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badRequest('Expecting property name enclosed in double quotes: line 1 column 2 (char 1)');
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Heat's time format: seconds and a Z. */
export function heatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Keystone's: six fractional digits and a Z. */
export function keystoneTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
