import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TributaryError } from '../../ports/errors.ts';
import { errorBody, StatusOverride, toHttpError } from '../errors.ts';

/**
 * Every error, thrown anywhere in a request, answered as `{ error: { code, message, details? } }`.
 * A path that exists with other methods is answered 405 with `Allow` (before the key is checked or
 * a body parsed: the methods of a path are no secret, the OpenAPI document lists them), any other 404.
 */
export function registerErrorHandler(app: FastifyInstance, opts: { bodyLimitBytes: number }): void {
  app.setErrorHandler((err, request, reply) => {
    const e = toHttpError(err, opts.bodyLimitBytes);
    if (e.status >= 500) request.log.error({ event: 'http.error', code: e.body.error.code, err }, 'request failed');
    else request.log.info({ event: 'http.rejected', code: e.body.error.code, status: e.status, msg: e.body.error.message });
    if (e.retryAfterMs !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(e.retryAfterMs / 1000))));
    if (e.status === 503 && e.retryAfterMs === undefined) reply.header('retry-after', '1');
    return reply.status(e.status).send(e.body);
  });

  const paths = new RoutePaths();
  app.addHook('onRoute', (route) => { paths.add(route.url, route.method); });
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    const path = request.url.split('?')[0]!;
    const allowed = paths.methodsOf(path);
    if (allowed.length === 0) return;
    reply.header('allow', allowed.join(', '));
    throw new StatusOverride(405, new TributaryError('NOT_FOUND', `${request.method} is not allowed on ${path}; it answers ${allowed.join(', ')}`, { details: { allowed } }));
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)));
}

/**
 * Fastify's `frameworkErrors`: what the router refuses before any route matched (a path that is not
 * valid percent-encoding: 400; a path parameter over MAX_PATH_PARAM_CHARS: 414), in the same error
 * shape as everything else rather than Fastify's own.
 */
export function answerFrameworkError(bodyLimitBytes: number) {
  return (err: Error, request: FastifyRequest, reply: FastifyReply): void => {
    const e = toHttpError(err, bodyLimitBytes);
    request.log.info({ event: 'http.rejected', code: e.body.error.code, status: e.status, msg: e.body.error.message });
    void reply.status(e.status).send(e.body);
  };
}

/** The methods each route pattern answers, to tell "no such path" (404) from "not with this method" (405). */
class RoutePaths {
  private readonly routes = new Map<string, { pattern: RegExp; methods: Set<string> }>();

  add(url: string, method: string | string[]): void {
    let entry = this.routes.get(url);
    if (!entry) {
      // `:name` matches one segment, `*` the rest of the path
      const source = url.split(/(:[A-Za-z0-9_]+|\*)/)
        .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
        .join('');
      entry = { pattern: new RegExp(`^${source}$`), methods: new Set() };
      this.routes.set(url, entry);
    }
    for (const m of Array.isArray(method) ? method : [method]) entry.methods.add(m.toUpperCase());
  }

  methodsOf(path: string): string[] {
    const methods = new Set<string>();
    for (const r of this.routes.values()) if (r.pattern.test(path)) for (const m of r.methods) methods.add(m);
    return [...methods].sort();
  }
}
