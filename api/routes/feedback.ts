import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { feedbackRequestSchema, type FeedbackEvent } from '../../schemas/feedback.ts';
import { Topics } from '../../schemas/topics.ts';
import type { ApiContext } from '../context.ts';

/**
 * Feedback on answers: validated, then appended to tributary.feedback (in the Schema Registry wire
 * format when a registry is configured), keyed by the answer's traceId so feedback on one answer
 * stays in order. 202 once the log has it durably.
 */
export const feedbackRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.post('/v1/feedback', {
    schema: {
      tags: ['rag'],
      summary: 'Rate an answer (by its traceId), optionally with the answer that should have been given',
      description: 'Appended to `tributary.feedback`; counts toward preference-data thresholds. Name the answer with the '
        + '`traceId` of its RAG response (JSON body, or the SSE `done` event), or give the `query` it was about.',
      // the schema's refinement (a traceId or a query), which zod's JSON Schema leaves out, for the document
      body: feedbackRequestSchema.meta({ anyOf: [{ required: ['traceId'] }, { required: ['query'] }] }),
      response: { 202: z.object({ id: z.string().describe('The feedback id') }) },
    },
  }, async (request, reply) => {
    const id = randomUUID();
    const event: FeedbackEvent = { id, ...request.body, receivedAtMs: Date.now() };
    const value = await ctx.codec.encode(Topics.feedback, event);
    await ctx.log.append(Topics.feedback, [{ key: event.traceId ?? id, value }]);
    return reply.status(202).send({ id });
  });
};
