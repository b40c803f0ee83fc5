import type { FastifyInstance, RouteOptions } from 'fastify';
import { requiredScope } from '../auth/route-scopes.ts';
import { errorResponse, retryAfterHeader, type ResponseDoc } from '../errors.ts';
import { MAX_PATH_PARAM_CHARS } from '../schemas.ts';

/**
 * The error responses routes share, declared on every route as it is registered, from what the
 * route takes and who may call it: the OpenAPI document lists exactly these, and Fastify serialises
 * them. A status the route declares itself wins (e.g. /readyz's own 503).
 *
 *  - 400 when it takes a body, a query string or path parameters (INVALID_INPUT names each bad field);
 *  - 413 and 415 when it takes a JSON body (plugins/json-body.ts);
 *  - 414 when it has path parameters (one longer than the router accepts);
 *  - 401, 403 and 429 when API keys are configured and the route is not open (plugins/auth.ts);
 *    its security requirement says the same: none on open routes, nor anywhere without keys;
 *  - 500 and 503 on every route.
 *
 * Register before the routes (it is an onRoute hook); routes hidden from the document are left alone.
 */
export function registerSharedResponses(app: FastifyInstance, opts: { secured: boolean }): void {
  app.addHook('onRoute', (route) => {
    const schema = route.schema;
    if (!schema || schema.hide) return;
    const scope = requiredScope(Array.isArray(route.method) ? route.method[0]! : route.method, route.url);
    const guarded = opts.secured && scope !== 'open';
    const shared = sharedResponses(route, guarded ? scope : null);
    route.schema = {
      ...schema,
      security: guarded ? [{ apiKey: [] }] : [],
      response: { ...shared, ...(schema.response as Record<string, unknown> | undefined) },
    };
  });
}

function sharedResponses(route: RouteOptions, scope: string | null): Record<number, ResponseDoc> {
  const schema = route.schema!;
  const hasParams = schema.params !== undefined || route.url.includes(':');
  const hasBody = schema.body !== undefined;
  const out: Record<number, ResponseDoc> = {};
  if (hasBody || hasParams || schema.querystring !== undefined) {
    out[400] = errorResponse('Invalid request: `error.code` says why; INVALID_INPUT names each bad field in `details` ([{ path, message }])');
  }
  if (scope !== null) {
    out[401] = errorResponse('No API key, a malformed Authorization header, or an unknown key (UNAUTHORIZED)', {
      'www-authenticate': { type: 'string', description: 'Bearer realm="tributary", with the error when a key was sent' },
    });
    out[403] = errorResponse(`The key lacks the "${scope}" scope this route needs (FORBIDDEN); \`details\` has the scope required and those granted`);
  }
  if (hasBody) {
    out[413] = errorResponse('The body is over the size limit, TRIBUTARY_BODY_LIMIT_BYTES (PAYLOAD_TOO_LARGE)');
    out[415] = errorResponse('The body is not application/json in UTF-8 (UNSUPPORTED_MEDIA_TYPE)');
  }
  if (hasParams) out[414] = errorResponse(`A path parameter is longer than ${MAX_PATH_PARAM_CHARS} characters (INVALID_INPUT)`);
  if (scope !== null) {
    out[429] = errorResponse('The key is over its request rate, or on inference routes its token rate (RATE_LIMITED)', { 'retry-after': retryAfterHeader });
  }
  out[500] = errorResponse('Internal error (INTERNAL): the server log has the cause');
  out[503] = errorResponse('A dependency this route needs is unavailable (STORE_UNAVAILABLE, INDEX_UNAVAILABLE, LOG_UNAVAILABLE …); retry after Retry-After', { 'retry-after': retryAfterHeader });
  return out;
}
