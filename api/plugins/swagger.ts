import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { createJsonSchemaTransform } from 'fastify-type-provider-zod';
import type { $ZodType } from 'zod/v4/core';

/**
 * OpenAPI document generated from the routes' zod schemas: UI at /docs, JSON at /docs/json. Register
 * before the routes. Each route's security requirement and shared error responses are declared on
 * the route itself (plugins/shared-responses.ts); this adds what zod's JSON Schema cannot say alone.
 */
export async function registerSwagger(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tributary',
        description: 'Real-time RAG ingestion: publish content, search it, ask questions about it, and watch the pipeline. '
          + 'Every error is `{ error: { code, message, details? } }`.',
        version: '1.0.0',
      },
      tags: [
        { name: 'content', description: 'Publish, read and delete raw documents' },
        { name: 'search', description: 'Hybrid (dense + keyword) search over indexed chunks' },
        { name: 'rag', description: 'Answers with citations' },
        { name: 'ops', description: 'Consumer lag and the dead-letter queue' },
        { name: 'finetune', description: 'Continuous training: datasets, pinned versions and fine-tune jobs' },
        { name: 'health', description: 'Liveness, readiness and metrics' },
        { name: 'inference', description: 'OpenAI-compatible proxy to GPU inference servers' },
      ],
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key with the scope the route needs (ingest, query, inference, admin). Not needed when the server runs without keys (loopback only).' } },
      },
    },
    transform: transformRoute,
    transformObject: (document) => markHeadersRequired('openapiObject' in document ? document.openapiObject : document.swaggerObject),
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
}

type RouteDocument = Parameters<typeof zodTransform>[0];

const zodTransform = createJsonSchemaTransform({ zodToJsonConfig: { override: overrideJsonSchema } });

/**
 * fastify-type-provider-zod's transform, keeping the headers of responses declared with `content`
 * (it keeps only their description and bodies).
 */
function transformRoute(document: RouteDocument): ReturnType<typeof zodTransform> {
  const out = zodTransform(document);
  const declared = document.schema?.response as Record<string, unknown> | undefined;
  const transformed = (out.schema as { response?: Record<string, Record<string, unknown>> } | undefined)?.response;
  if (!declared || !transformed) return out;
  for (const [status, response] of Object.entries(declared)) {
    const headers = response !== null && typeof response === 'object' && 'content' in response ? (response as { headers?: unknown }).headers : undefined;
    if (headers && transformed[status]) transformed[status].headers = headers;
  }
  return out;
}

/** The API declares only response headers it always sends (errors.ts: ResponseHeader): each is required. */
function markHeadersRequired<T>(doc: T): T {
  const paths = (doc as { paths?: Record<string, Record<string, { responses?: Record<string, { headers?: Record<string, Record<string, unknown>> }> }>> }).paths ?? {};
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) {
      for (const response of Object.values(operation.responses ?? {})) {
        for (const header of Object.values(response.headers ?? {})) header['required'] = true;
      }
    }
  }
  return doc;
}

/**
 * What String.prototype.trim() removes (ECMAScript WhiteSpace and LineTerminator), spelled out:
 * the document is read by other regex dialects, where `\s` is another set (Python's, for one).
 */
const TRIMMED = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';

interface OverrideContext {
  zodSchema: $ZodType;
  jsonSchema: Record<string, unknown>;
}

/**
 * Corrections to zod's JSON Schema:
 *  - unions lose their empty branches (as fastify-type-provider-zod's own override does);
 *  - a string trimmed before its length is checked (`.trim().min(1)`) says so: zod writes its
 *    minLength/maxLength as if they applied to the string as sent, so "  " looked valid and a
 *    padded string over maxLength invalid. A pattern states the length of the trimmed string.
 */
function overrideJsonSchema(ctx: OverrideContext): void {
  const { zodSchema, jsonSchema } = ctx;
  const def = zodSchema._zod.def as { type: string; checks?: ReadonlyArray<{ _zod: { def: { check: string; tx?: (v: string) => string } } }> };
  if (def.type === 'union' && Array.isArray(jsonSchema['anyOf'])) {
    jsonSchema['anyOf'] = (jsonSchema['anyOf'] as object[]).filter((branch) => Object.keys(branch).length > 0);
  }
  if (def.type !== 'string') return;
  const trimsFirst = def.checks?.[0]?._zod.def.check === 'overwrite' && def.checks[0]._zod.def.tx?.(' \t x \n') === 'x';
  if (!trimsFirst) return;
  const min = typeof jsonSchema['minLength'] === 'number' ? jsonSchema['minLength'] : 0;
  const max = typeof jsonSchema['maxLength'] === 'number' ? jsonSchema['maxLength'] : undefined;
  if (min === 0 && max === undefined) return;
  // zod checks the length after trimming; the length as sent is unbounded above
  delete jsonSchema['maxLength'];
  const pattern = trimmedLengthPattern(min, max);
  if (jsonSchema['pattern'] === undefined) jsonSchema['pattern'] = pattern;
  else jsonSchema['allOf'] = [...((jsonSchema['allOf'] as object[] | undefined) ?? []), { pattern }];
  const limits = max === undefined ? `at least ${min}` : `${min} to ${max}`;
  const note = `Surrounding whitespace is trimmed; then ${limits} characters.`;
  const description = typeof jsonSchema['description'] === 'string' ? jsonSchema['description'].replace(/\.?$/, '. ') : '';
  jsonSchema['description'] = description + note;
}

/** Anchored: whitespace, then `min`..`max` characters starting and ending with a non-whitespace one, then whitespace. */
function trimmedLengthPattern(min: number, max: number | undefined): string {
  const ws = `[${TRIMMED}]`;
  const solid = `[^${TRIMMED}]`;
  const upTo = (n: number | undefined) => (n === undefined ? '' : String(n));
  let core: string;
  if (max === 1) core = solid;
  else if (min <= 1) core = `${solid}(?:[\\s\\S]{0,${upTo(max === undefined ? undefined : max - 2)}}${solid})?`;
  else core = `${solid}[\\s\\S]{${min - 2},${upTo(max === undefined ? undefined : max - 2)}}${solid}`;
  return `^${ws}*${min === 0 ? `(?:${core})?` : core}${ws}*$`;
}
