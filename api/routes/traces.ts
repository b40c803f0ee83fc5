import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { TributaryError } from '../../ports/errors.ts';
import { feedbackEventSchema } from '../../schemas/feedback.ts';
import { ragTraceSchema } from '../../schemas/trace.ts';
import type { ApiContext } from '../context.ts';
import { commonErrorResponses, errorBodySchema } from '../errors.ts';
import { syncTraces } from '../services/traces.ts';

/** RAG traces (prompt monitoring): what each RAG query did, and the feedback that names it. */
export const traceRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get('/v1/traces', {
    schema: {
      tags: ['rag'],
      summary: 'RAG traces, newest first: query, filters, expanded queries, retrieved chunks and scores, rerank order, prompt, answer, citations, latency per step, tokens, cache hit',
      querystring: z.strictObject({
        since: z.union([z.iso.datetime(), z.coerce.number().int().nonnegative()]).optional().describe('Only traces at or after this time (ISO 8601, or ms since the epoch)'),
        limit: z.coerce.number().int().min(1).max(1000).default(50),
      }),
      response: { 200: z.object({ traces: z.array(ragTraceSchema) }), ...commonErrorResponses },
    },
  }, async (request) => {
    await syncTraces(ctx);
    const { since, limit } = request.query;
    const sinceMs = since === undefined ? undefined : typeof since === 'number' ? since : Date.parse(since);
    return { traces: ctx.traces.list({ limit, ...(sinceMs !== undefined ? { sinceMs } : {}) }) };
  });

  app.get('/v1/traces/:id', {
    schema: {
      tags: ['rag'],
      summary: 'One RAG trace, with the feedback given on its answer',
      params: z.strictObject({ id: z.string().min(1).max(64) }),
      response: { 200: z.object({ trace: ragTraceSchema, feedback: z.array(feedbackEventSchema) }), 404: errorBodySchema, ...commonErrorResponses },
    },
  }, async (request) => {
    await syncTraces(ctx);
    const found = ctx.traces.get(request.params.id);
    if (!found) throw new TributaryError('NOT_FOUND', `no trace "${request.params.id}" (traces are kept 30 days; GET /v1/traces lists them)`);
    return found;
  });
};
