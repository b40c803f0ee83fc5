import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { contentRequestSchema, PROBE_CATEGORY, rawDocumentSchema } from '../../schemas/content.ts';
import { TributaryError } from '../../ports/errors.ts';
import type { ApiContext } from '../context.ts';
import { errorBodySchema, errorResponse, notFound, retryAfterHeader } from '../errors.ts';
import { IngestGate } from '../services/ingest-gate.ts';
import { docIdParamsSchema } from '../schemas.ts';

/**
 * Publishing raw content. A request is one item or `{ items: [...] }`; it is validated as a whole
 * before anything is written, and the store writes all items or none.
 */
export const contentRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const gate = new IngestGate({ log: ctx.log, maxBacklog: ctx.settings.ingestMaxBacklog });
  app.post('/v1/content', {
    schema: {
      tags: ['content'],
      summary: 'Publish one document or a batch',
      description: 'Same `source` + `externalId` → same id (publishing is idempotent). The document becomes searchable '
        + 'once the pipeline has cleaned, chunked and embedded it (about a second). Unknown-but-well-formed categories use the generic cleaner. '
        + 'When more change events wait in the pipeline than TRIBUTARY_INGEST_MAX_BACKLOG, the write is refused with 429 INGEST_BACKLOG_FULL and a Retry-After (back-pressure): nothing of it was written.',
      body: contentRequestSchema,
      response: {
        202: z.object({ ids: z.array(z.string()).describe('Document ids, in request order') }),
        429: errorResponse('Back-pressure: the pipeline\'s backlog is over TRIBUTARY_INGEST_MAX_BACKLOG (INGEST_BACKLOG_FULL), or the key is over its request rate (RATE_LIMITED); nothing was written, write again after Retry-After', { 'retry-after': retryAfterHeader }),
      },
    },
  }, async (request, reply) => {
    const body = request.body;
    const items = 'items' in body ? body.items : [body];
    const probe = items.findIndex((i) => i.category === PROBE_CATEGORY);
    if (probe >= 0) {
      throw new TributaryError('INVALID_INPUT', `category "${PROBE_CATEGORY}" is reserved for the freshness probe's document; use another category`, {
        details: [{ path: 'items' in body ? `items.${probe}.category` : 'category', message: 'is reserved' }],
      });
    }
    await gate.admit(items.length);
    const results = await ctx.store.put(items);
    return reply.status(202).send({ ids: results.map((r) => r.id) });
  });

  app.get('/v1/content/:id', {
    schema: {
      tags: ['content'],
      summary: 'The raw document as stored',
      params: docIdParamsSchema,
      response: { 200: rawDocumentSchema, 404: errorBodySchema },
    },
  }, async (request) => {
    const doc = await ctx.store.get(request.params.id);
    if (!doc) throw notFound(`no document with id "${request.params.id}"`);
    return doc;
  });

  app.delete('/v1/content/:id', {
    schema: {
      tags: ['content'],
      summary: 'Delete a document (its chunks leave the index shortly after)',
      params: docIdParamsSchema,
      response: { 202: z.object({ id: z.string(), deleted: z.literal(true) }), 404: errorBodySchema },
    },
  }, async (request, reply) => {
    const deleted = await ctx.store.delete(request.params.id);
    if (!deleted) throw notFound(`no document with id "${request.params.id}"`);
    return reply.status(202).send({ id: request.params.id, deleted: true as const });
  });
};
