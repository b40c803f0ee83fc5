import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.ts';
import { dependencyErrorResponses, errorBodySchema, toHttpError } from '../errors.ts';
import { queryTextSchema, searchFilterSchema, sseEventSchema } from '../schemas.ts';
import { randomUUID } from 'node:crypto';
import { answerQuestion, type RagRequest, type RagResult } from '../services/rag.ts';
import { AnswerCache, type CacheHit } from '../services/answer-cache.ts';
import { recordTrace, traceOf } from '../services/traces.ts';
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
  cache: z.boolean().default(true).describe('Serve a cached answer to the same question when none of its sources changed (false: always answer afresh)'),
});

const cacheInfoSchema = z.object({
  hit: z.boolean(),
  ageMs: z.number().int().optional().describe('How old the cached answer is'),
  cachedTraceId: z.string().optional().describe('The traceId of the response the answer was cached from'),
}).describe('Whether the answer came from the answer cache');

const sourceSchema = z.object({
  docId: z.string(), chunkIndex: z.number().int(), text: z.string(), score: z.number(), title: z.string().nullable(), url: z.string().nullable(),
});

const ragResponseSchema = z.object({
  traceId: z.string().describe('Names this answer: give it to POST /v1/feedback'),
  cache: cacheInfoSchema,
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
    guardrails: z.looseObject({
      injection: z.enum(['block', 'flag', 'off']), pii: z.enum(['mask', 'off']),
      query: z.object({ flagged: z.boolean(), rules: z.array(z.string()) }),
      chunks: z.object({ flagged: z.number().int(), dropped: z.number().int(), rules: z.array(z.string()) }),
      answer: z.object({ masked: z.number().int() }),
    }).optional().describe('What each guardrail found: prompt-injection rules tripped by the question and by retrieved chunks (left out of the context when blocking), masks put in the answer'),
  }).describe('What each retrieval step did, or why it was skipped'),
});

/** The `stream: true` response, event by event: `sources`, `delta`s, then `done` (or `error`). */
const sseStreamSchema = z.union([
  sseEventSchema('sources', z.object({ sources: z.array(sourceSchema) }), 'First: the sources the answer may cite ([n] = sources[n-1])'),
  sseEventSchema('delta', z.object({ text: z.string() }), 'The next piece of the answer'),
  sseEventSchema('done', ragResponseSchema.omit({ sources: true }), 'Last: the whole answer, its traceId, steps and cache info'),
  sseEventSchema('error', errorBodySchema, 'A failure mid-stream; the stream ends here'),
]).describe('One Server-Sent Event: `event:` names it, `data:` is JSON');

export const ragRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const cache = new AnswerCache({ ttlMs: ctx.settings.answerCache.ttlMs, maxEntries: ctx.settings.answerCache.maxEntries, prompts: ctx.prompts });
  app.post('/v1/rag/query', {
    schema: {
      tags: ['rag'],
      summary: 'Answer a question from the indexed content, with citations',
      description: 'Self-query → query expansion → hybrid search (RRF across variants) → rerank → answer. '
        + 'With `stream: true` the response is `text/event-stream`: event `sources` ({sources}), `delta` ({text}) events, '
        + 'then `done` ({traceId, answer, mode, steps, cache}); a failure mid-stream sends `error` ({error: {code, message}}) and ends the stream. '
        + 'A repeated question whose sources have not changed since is answered from the answer cache (`cache.hit`), each time under a new traceId.',
      body: ragBodySchema,
      response: {
        200: {
          description: 'The answer: JSON, or with `stream: true` Server-Sent Events',
          content: {
            'application/json': { schema: ragResponseSchema },
            'text/event-stream': { schema: sseStreamSchema },
          },
        },
        ...dependencyErrorResponses,
      },
    },
  }, async (request, reply) => {
    const { stream, filter, cache: useCache, ...rest } = request.body;
    const req: RagRequest = { ...rest, ...(filter ? { filter } : {}), guardrails: ctx.settings.guardrails };
    const ac = abortOnDisconnect(reply.raw);
    // the answer cache: a repeated question whose sources did not change is answered from it
    const key = useCache && cache.enabled ? cache.key(req, ctx.llm?.id ?? null) : null;
    let cached: CacheHit | null = null;
    if (key !== null) {
      const found = await cache.get(key, ctx.index);
      ctx.metrics.answerCache.inc({ outcome: found.outcome });
      cached = found.hit;
    }
    // every response writes its trace; a trace that cannot be written is logged and counted, the answer stands
    const trace = async (result: RagResult, cacheInfo: { hit: boolean; cachedTraceId?: string }, traceId: string) => {
      if (!ctx.settings.ragTraces) return;
      try {
        await recordTrace(ctx, traceOf(req, result, { logPrompts: ctx.settings.inferenceLogPrompts, cache: cacheInfo, traceId, ...(cacheInfo.hit ? { atMs: Date.now() } : {}) }));
      } catch (e) {
        ctx.metrics.traceWriteFailures.inc();
        request.log.error({ event: 'rag.trace_failed', traceId, err: (e as Error).message }, 'could not write the RAG trace');
      }
    };
    const fromCache = (hit: CacheHit): RagResult & { cache: z.infer<typeof cacheInfoSchema> } => ({
      ...hit.result, traceId: randomUUID(), cache: { hit: true, ageMs: Math.round(hit.ageMs), cachedTraceId: hit.result.traceId },
    });
    if (!stream) {
      if (cached) {
        const r = fromCache(cached);
        await trace(cached.result, r.cache, r.traceId);
        return r;
      }
      const result = await answerQuestion(ctx, req, { signal: ac.signal });
      if (key !== null) await cache.put(key, result, ctx.index);
      await trace(result, { hit: false }, result.traceId);
      return { ...result, cache: { hit: false } };
    }

    reply.hijack();
    const sse = new SseWriter(reply.raw);
    sse.open();
    try {
      if (cached) {
        const r = fromCache(cached);
        sse.send('sources', { sources: r.sources });
        sse.send('delta', { text: r.answer });
        sse.send('done', { traceId: r.traceId, answer: r.answer, mode: r.mode, steps: r.steps, cache: r.cache });
        await trace(cached.result, r.cache, r.traceId);
      } else {
        const result = await answerQuestion(ctx, req, {
          signal: ac.signal,
          onSources: (sources) => sse.send('sources', { sources }),
          onDelta: (text) => sse.send('delta', { text }),
        });
        if (key !== null) await cache.put(key, result, ctx.index);
        sse.send('done', { traceId: result.traceId, answer: result.answer, mode: result.mode, steps: result.steps, cache: { hit: false } });
        await trace(result, { hit: false }, result.traceId);
      }
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
