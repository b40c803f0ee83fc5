import type { FastifyInstance } from 'fastify';
import { errorBody, toHttpError } from '../errors.ts';

/** Every error, thrown anywhere in a request, answered as `{ error: { code, message, details? } }`. */
export function registerErrorHandler(app: FastifyInstance, opts: { bodyLimitBytes: number }): void {
  app.setErrorHandler((err, request, reply) => {
    const e = toHttpError(err, opts.bodyLimitBytes);
    if (e.status >= 500) request.log.error({ event: 'http.error', code: e.body.error.code, err }, 'request failed');
    else request.log.info({ event: 'http.rejected', code: e.body.error.code, status: e.status, msg: e.body.error.message });
    if (e.retryAfterMs !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(e.retryAfterMs / 1000))));
    if (e.status === 503 && e.retryAfterMs === undefined) reply.header('retry-after', '1');
    return reply.status(e.status).send(e.body);
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)));
}
