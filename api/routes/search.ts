import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.ts';
import { commonErrorResponses } from '../errors.ts';
import { hitSchema, queryTextSchema, searchFilterSchema } from '../schemas.ts';
import { hybridSearch, toHitView } from '../services/search.ts';

export const searchRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.post('/v1/search', {
    schema: {
      tags: ['search'],
      summary: 'Hybrid search: dense vectors + keywords (BM25), fused with reciprocal rank fusion',
      body: z.strictObject({
        query: queryTextSchema,
        k: z.number().int().min(1).max(100).default(10).describe('How many hits'),
        filter: searchFilterSchema.optional(),
      }),
      response: { 200: z.object({ hits: z.array(hitSchema) }), ...commonErrorResponses },
    },
  }, async (request) => {
    const { query, k, filter } = request.body;
    const hits = await hybridSearch(ctx, { query, k, ...(filter ? { filter } : {}) });
    return { hits: hits.map((h) => toHitView(h)) };
  });
};
