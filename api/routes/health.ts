import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { System } from '../../wiring/system.ts';

const consumerStatusSchema = z.object({ name: z.string(), group: z.string(), running: z.boolean(), degraded: z.boolean(), lastError: z.string().nullable() });

export const healthRoutes: FastifyPluginAsyncZod<{ system: System }> = async (app, { system }) => {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Liveness: the process serves requests', response: { 200: z.object({ status: z.literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  const readySchema = z.object({
    status: z.enum(['ready', 'not_ready']),
    notRunning: z.array(z.string()).describe('Consumers that are not running'),
    consumers: z.array(consumerStatusSchema),
  });
  app.get('/readyz', {
    schema: {
      tags: ['health'],
      summary: 'Readiness: 200 when every pipeline consumer is running, else 503 naming those that are not',
      response: { 200: readySchema, 503: readySchema },
    },
  }, async (_request, reply) => {
    const consumers = system.consumers.map((c) => c.status);
    const notRunning = consumers.filter((c) => !c.running).map((c) => c.name);
    return reply.status(notRunning.length ? 503 : 200).send({ status: notRunning.length ? 'not_ready' : 'ready', notRunning, consumers });
  });
};
