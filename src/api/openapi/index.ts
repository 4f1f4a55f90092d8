import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../route';
import { openApiDocument } from './document';

/** /openapi.json: built once, from every route (`all` includes this one). */
export function openApiRoutes(all: () => AnyRoute[], version: string): AnyRoute[] {
  let document: Record<string, unknown> | undefined;
  const self = defineRoute({
    operationId: 'openapi',
    method: 'get',
    path: '/openapi.json',
    summary: 'This OpenAPI 3.1 document',
    tag: 'operations',
    access: 'public',
    responses: [
      {
        status: 200,
        description: 'the OpenAPI document',
        schema: z.record(z.string(), z.unknown()),
      },
    ],
    errors: [],
    handle(koa) {
      document ??= openApiDocument(all(), version);
      koa.body = document;
    },
  });
  return [self];
}
