import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.ts';
import { commonErrorResponses, toHttpError } from '../errors.ts';
import { queryTextSchema, searchFilterSchema } from '../schemas.ts';
import { answerQuestion, type RagRequest } from '../services/rag.ts';
import { SEARCH_MODES } from '../services/search.ts';
import { abortOnDisconnect, SseWriter } from '../sse.ts';

const stepSchema = z.looseObject({ status: z.enum(['applied', 'skipped']), reason: z.string().optional() });

const ragBodySchema = z.strictObject({
  query: queryTextSchema,
  k: z.number().int().min(1).max(50).default(5).describe('How many sources to answer from'),
  filter: searchFilterSchema.optional(),
  stream: z.boolean().default(false).describe('Answer as Server-Sent Events: `sources`, then `delta`s, then `done` (or `error`)'),
  expand: z.boolean().default(true).describe('Query expansion (needs an LLM)'),
  selfQuery: z.boolean().default(true).describe('Extract author/category filters from the question'),
  rerank: z.boolean().default(true).describe('Rerank candidates (needs an LLM)'),
  mode: z.enum(SEARCH_MODES).default('hybrid').describe('Retrieval: hybrid (dense + keyword, fused), dense (meaning only) or keyword (BM25 only)'),
});

const sourceSchema = z.object({
  docId: z.string(), chunkIndex: z.number().int(), text: z.string(), score: z.number(), title: z.string().nullable(), url: z.string().nullable(),
});

const ragResponseSchema = z.object({
  traceId: z.string().describe('Names this answer: give it to POST /v1/feedback'),
  answer: z.string().describe('Cites sources as [n] = sources[n-1]. Without an LLM: an extractive answer, labelled as such'),
  mode: z.enum(['extractive', 'llm']),
  sources: z.array(sourceSchema),
  steps: z.looseObject({
    selfQuery: stepSchema,
    expansion: stepSchema,
    search: z.looseObject({ mode: z.enum(SEARCH_MODES), variants: z.number(), candidates: z.number() }),
    rerank: stepSchema,
    llm: z.looseObject({ model: z.string() }).optional(),
    extractive: z.looseObject({ reason: z.string() }).optional(),
  }).describe('What each retrieval step did, or why it was skipped'),
});

export const ragRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.post('/v1/rag/query', {
    schema: {
      tags: ['rag'],
      summary: 'Answer a question from the indexed content, with citations',
      description: 'Self-query → query expansion → hybrid search (RRF across variants) → rerank → answer. '
        + 'With `stream: true` the response is `text/event-stream`: event `sources` ({sources}), `delta` ({text}) events, '
        + 'then `done` ({traceId, answer, mode, steps}); a failure mid-stream sends `error` ({error: {code, message}}) and ends the stream.',
      body: ragBodySchema,
      response: { 200: ragResponseSchema, ...commonErrorResponses },
    },
  }, async (request, reply) => {
    const { stream, filter, ...rest } = request.body;
    const req: RagRequest = { ...rest, ...(filter ? { filter } : {}) };
    const ac = abortOnDisconnect(reply.raw);
    if (!stream) return answerQuestion(ctx, req, { signal: ac.signal });

    reply.hijack();
    const sse = new SseWriter(reply.raw);
    sse.open();
    try {
      const result = await answerQuestion(ctx, req, {
        signal: ac.signal,
        onSources: (sources) => sse.send('sources', { sources }),
        onDelta: (text) => sse.send('delta', { text }),
      });
      sse.send('done', { traceId: result.traceId, answer: result.answer, mode: result.mode, steps: result.steps });
    } catch (err) {
      if (ac.signal.aborted) {
        request.log.info({ event: 'rag.client_disconnected' }, 'client went away; generation aborted');
      } else {
        const e = toHttpError(err, ctx.settings.bodyLimitBytes);
        request.log.error({ event: 'rag.stream_failed', code: e.body.error.code, err }, 'answer stream failed');
        sse.send('error', e.body);
      }
    } finally {
      sse.end();
    }
    return reply;
  });
};
