import type { Context } from 'koa';
import type { z } from 'zod';
import { badRequest, payloadTooLarge, unsupportedMediaType } from './errors';

/** DESIGN: a body over 64 KiB is a 413. */
export const BODY_LIMIT = 64 * 1024;

export type InputLocation = 'params' | 'query' | 'body';

/**
 * Reads a JSON body within `limit` bytes. Returns undefined when the request has none. The
 * declared length is checked before reading, and the running total while reading (chunked
 * uploads declare nothing), so an oversized body is refused without being buffered.
 */
export async function readJsonBody(koa: Context, limit = BODY_LIMIT): Promise<unknown> {
  const declared = Number(koa.get('Content-Length') || '0');
  const chunked = /chunked/i.test(koa.get('Transfer-Encoding'));
  if (declared === 0 && !chunked) return undefined;
  if (!koa.is('application/json', '+json')) throw unsupportedMediaType();
  if (declared > limit) throw payloadTooLarge(limit);
  const chunks = await new Promise<Buffer[]>((resolve, reject) => {
    const received: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void received.push(chunk);
      // Stop reading without destroying the socket, so the 413 still reaches the client.
      koa.req.off('data', onData);
      koa.set('Connection', 'close');
      reject(payloadTooLarge(limit));
    };
    koa.req.on('data', onData);
    koa.req.once('end', () => resolve(received));
    koa.req.once('error', reject);
  });
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badRequest('the request body is not valid JSON', { field: null, in: 'body' });
  }
}

/** Validates `value` with `schema`; a failure is a 400 whose details name the (first) field. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  location: InputLocation,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    // An unknown field is reported by the object that holds it: name the field itself.
    const path =
      issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
    return { field: path.map(String).join('.') || null, in: location, message: issue.message };
  });
  const first = problems[0]!;
  const what = first.field ? `${location} field "${first.field}"` : `the ${location}`;
  return throwBadRequest(`invalid ${what}: ${first.message}`, {
    field: first.field,
    in: location,
    problems,
  });
}

function throwBadRequest(message: string, details: unknown): never {
  throw badRequest(message, details);
}
