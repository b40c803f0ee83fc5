import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { TributaryError } from '../../ports/errors.ts';
import { feedbackEventSchema } from '../../schemas/feedback.ts';
import { judgementSchema } from '../../schemas/judgement.ts';
import { ragTraceSchema } from '../../schemas/trace.ts';
import { judgeAnswer, judgeInputOf, recordJudgements } from '../../consumers/judge/judge-answer.ts';
import type { ApiContext } from '../context.ts';
import { errorBodySchema, errorResponse } from '../errors.ts';
import { syncTraces } from '../services/traces.ts';
import { abortOnDisconnect } from '../sse.ts';

/** RAG traces (prompt monitoring): what each RAG query did, the feedback that names it, and the judge's verdict. */
export const traceRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  const traceNotFound = (id: string) => new TributaryError('NOT_FOUND', `no trace "${id}" (traces are kept 30 days; GET /v1/traces lists them)`);

  app.get('/v1/traces', {
    schema: {
      tags: ['rag'],
      summary: 'RAG traces, newest first: query, filters, expanded queries, retrieved chunks and scores, rerank order, prompt, answer, citations, latency per step, tokens, cache hit, and the judge\'s scores',
      querystring: z.strictObject({
        since: z.union([z.iso.datetime(), z.coerce.number().int().nonnegative()]).optional().describe('Only traces at or after this time (ISO 8601, or ms since the epoch)'),
        limit: z.coerce.number().int().min(1).max(1000).default(50),
      }),
      response: { 200: z.object({ traces: z.array(ragTraceSchema.extend({ judgement: judgementSchema.nullable().describe('The LLM-as-judge verdict (null: not judged)') })) }) },
    },
  }, async (request) => {
    await syncTraces(ctx);
    const { since, limit } = request.query;
    const sinceMs = since === undefined ? undefined : typeof since === 'number' ? since : Date.parse(since);
    return { traces: ctx.traces.list({ limit, ...(sinceMs !== undefined ? { sinceMs } : {}) }).map((t) => ({ ...t.trace, judgement: t.judgement })) };
  });

  app.get('/v1/traces/:id', {
    schema: {
      tags: ['rag'],
      summary: 'One RAG trace, with the feedback given on its answer and the judge\'s verdict',
      params: z.strictObject({ id: z.string().min(1).max(64) }),
      response: { 200: z.object({ trace: ragTraceSchema, feedback: z.array(feedbackEventSchema), judgement: judgementSchema.nullable() }), 404: errorBodySchema },
    },
  }, async (request) => {
    await syncTraces(ctx);
    const found = ctx.traces.get(request.params.id);
    if (!found) throw traceNotFound(request.params.id);
    return found;
  });

  app.post('/v1/traces/:id/judge', {
    schema: {
      tags: ['rag'],
      summary: 'Judges one RAG answer now with the LLM (groundedness, answer relevance, context relevance, and correctness against `expected` when given), records the verdict on the trace and returns it',
      params: z.strictObject({ id: z.string().min(1).max(64) }),
      body: z.strictObject({
        expected: z.string().min(1).max(32_000).optional().describe('The expected answer: adds the correctness criterion'),
      }),
      response: {
        200: z.object({ judgement: judgementSchema }),
        404: errorBodySchema,
        409: errorResponse('The server has no LLM configured, so answers cannot be judged (LLM_NOT_CONFIGURED): its configuration, not the request, stands in the way; the message names the settings that configure one'),
        502: errorBodySchema,
      },
    },
  }, async (request, reply) => {
    if (!ctx.llm) {
      throw new TributaryError('LLM_NOT_CONFIGURED', 'no LLM is configured, so answers cannot be judged (no score is made up): set TRIBUTARY_LLM_BASE_URL, TRIBUTARY_LLM_UPSTREAM or TRIBUTARY_LLM_GGUF');
    }
    await syncTraces(ctx);
    const found = ctx.traces.get(request.params.id);
    if (!found) throw traceNotFound(request.params.id);
    // a client that goes away stops the judge's generation (the model's slot is freed for others)
    const ac = abortOnDisconnect(reply.raw);
    const judgement = await judgeAnswer({ llm: ctx.llm, template: ctx.prompts.judge, metrics: ctx.metrics }, found.trace.traceId, judgeInputOf(found.trace, request.body.expected), 'offline', ac.signal);
    await recordJudgements(ctx.log, ctx.codec, [judgement]);
    return { judgement };
  });
};
