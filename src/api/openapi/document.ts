import { z } from 'zod';
import { ERROR_DESCRIPTIONS } from '../errors';
import type { AnyRoute } from '../route';
import { errorSchema } from './schemas';

type JsonObject = Record<string, unknown>;

/**
 * The OpenAPI 3.1 document of every route, generated from the same route objects the router
 * mounts and the same zod schemas that validate requests, so it cannot describe an API that
 * does not exist. Schemas with a zod `id` become components.
 */
export function openApiDocument(routes: AnyRoute[], version: string): JsonObject {
  const components: Record<string, unknown> = {};
  const convert = (schema: z.ZodType, io: 'input' | 'output'): JsonObject => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io }) as JsonObject;
    const { $schema: _, $defs, ...rest } = json;
    for (const [id, def] of Object.entries(($defs ?? {}) as JsonObject))
      components[id] = relink(def);
    const id = z.globalRegistry.get(schema)?.id;
    if (id) {
      components[id] = relink(rest);
      return { $ref: `#/components/schemas/${id}` };
    }
    return relink(rest) as JsonObject;
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters = [
      ...objectParameters(route.params, 'path', convert),
      ...objectParameters(route.query, 'query', convert),
    ];
    const responses: Record<string, unknown> = {};
    for (const r of route.responses) {
      // Entries sharing a status are one answer in several media types (chosen by Accept).
      const answer = (responses[String(r.status)] ??= { description: r.description }) as {
        content?: Record<string, unknown>;
      };
      if (r.schema)
        answer.content = {
          ...answer.content,
          [mediaTypeOf(r.schema)]: { schema: convert(r.schema, 'output') },
        };
    }
    for (const status of errorStatuses(route)) {
      responses[String(status)] ??= {
        description: ERROR_DESCRIPTIONS[status] ?? 'error',
        content: { 'application/json': { schema: convert(errorSchema, 'output') } },
      };
    }
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      security: route.access === 'public' ? [] : [{ bearer: [] }],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              // An optional body (terminal-token's options) may be left out.
              required: !route.body.safeParse(undefined).success,
              content: { 'application/json': { schema: convert(route.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Open edX lab orchestrator API',
      version,
      description:
        'Per-learner OpenStack Heat labs. Service tokens (Open edX) act on labs; admin tokens ' +
        'also list, retry and see providers; a launch returns a heartbeat token for that lab only.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: components,
    },
  };
}

/** The error statuses a route can answer, from what it checks. */
function errorStatuses(route: AnyRoute): number[] {
  const statuses = new Set<number>();
  if (route.access !== 'public') [401, 403].forEach((s) => statuses.add(s));
  if (route.access !== 'public' && route.rateLimited !== false) statuses.add(429);
  const readsBody = route.method !== 'get' && !route.ignoreBody;
  if (route.params || route.query || readsBody) statuses.add(400);
  if (readsBody) [413, 415].forEach((s) => statuses.add(s));
  route.errors.forEach((s) => statuses.add(s));
  if (route.access !== 'public' || route.operationId === 'readyz') statuses.add(503);
  return [...statuses].sort();
}

function objectParameters(
  schema: z.ZodType | undefined,
  where: 'path' | 'query',
  convert: (s: z.ZodType, io: 'input' | 'output') => JsonObject,
): JsonObject[] {
  if (!schema) return [];
  const json = convert(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, JsonObject>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

function mediaTypeOf(schema: z.ZodType): string {
  const meta = z.globalRegistry.get(schema) as { contentMediaType?: string } | undefined;
  return meta?.contentMediaType ?? 'application/json';
}

/** zod writes local `#/$defs/X` references; in the document they live under components. */
function relink(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value).replace(/"#\/\$defs\/([^"]+)"/g, '"#/components/schemas/$1"'),
  ) as unknown;
}
