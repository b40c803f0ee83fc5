import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.ts';
import { dependencyErrorResponses } from '../errors.ts';
import { hitSchema, queryTextSchema, searchFilterSchema } from '../schemas.ts';
import { SEARCH_MODES, searchAndRerank, toHitView } from '../services/search.ts';

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
        rerank: z.boolean().default(false).describe('Rerank the hits with the LLM (k×3 candidates, at most 20, the best k kept); without an LLM the hits keep their order and `rerank` says why'),
      }),
      response: {
        200: z.object({
          mode: z.enum(SEARCH_MODES),
          hits: z.array(hitSchema),
          rerank: z.union([
            z.object({ status: z.literal('applied'), method: z.literal('llm'), candidates: z.number().int() }),
            z.object({ status: z.literal('skipped'), reason: z.string() }),
          ]).describe('What the rerank step did, or why it did not'),
        }),
        ...dependencyErrorResponses,
      },
    },
  }, async (request) => {
    const { query, k, filter, mode, rerank } = request.body;
    const found = await searchAndRerank(ctx, { query, k, mode, rerank, ...(filter ? { filter } : {}) });
    return { mode, hits: found.hits.map((h) => toHitView(h)), rerank: found.rerank };
  });
};
