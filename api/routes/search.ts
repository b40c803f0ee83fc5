import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.ts';
import { commonErrorResponses } from '../errors.ts';
import { hitSchema, queryTextSchema, searchFilterSchema } from '../schemas.ts';
import { SEARCH_MODES, searchInMode, toHitView } from '../services/search.ts';

export const searchRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.post('/v1/search', {
    schema: {
      tags: ['search'],
      summary: 'Search: dense vectors + keywords (BM25) fused with reciprocal rank fusion (hybrid), or one side alone',
      body: z.strictObject({
        query: queryTextSchema,
        k: z.number().int().min(1).max(100).default(10).describe('How many hits'),
        filter: searchFilterSchema.optional(),
        mode: z.enum(SEARCH_MODES).default('hybrid').describe('hybrid (both sides, fused), dense (meaning only) or keyword (BM25 only; the query is not embedded)'),
      }),
      response: { 200: z.object({ mode: z.enum(SEARCH_MODES), hits: z.array(hitSchema) }), ...commonErrorResponses },
    },
  }, async (request) => {
    const { query, k, filter, mode } = request.body;
    const hits = await searchInMode(ctx, { query, k, mode, ...(filter ? { filter } : {}) });
    return { mode, hits: hits.map((h) => toHitView(h)) };
  });
};
