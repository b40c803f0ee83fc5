import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { consumerLag } from '../services/lag.ts';
import { LAG_STATUS_VALUE } from '../../streams/lag/index.ts';

/** Counts every response by route, method and status; serves Prometheus text at GET /metrics. */
export function registerMetrics(app: FastifyInstance, ctx: ApiContext): void {
  const { metrics } = ctx;
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.inc({ route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) });
  });
  app.get('/metrics', {
    schema: {
      tags: ['health'],
      summary: 'Prometheus metrics (consumer lag is refreshed on every scrape)',
      response: { 200: { description: 'The Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } } },
    },
  }, async (_request, reply) => {
    const rows = await consumerLag(ctx);
    metrics.consumerLag.reset();
    for (const r of rows) {
      const labels = { group: r.group, topic: r.topic, partition: String(r.partition) };
      metrics.consumerLag.set(labels, r.lag);
      // seconds and status from the lag monitor's last evaluation (this process's, or the one it published)
      if (r.lagSeconds !== null) metrics.consumerLagSeconds.set(labels, r.lagSeconds);
      if (r.status !== null) metrics.consumerLagStatus.set(labels, LAG_STATUS_VALUE[r.status]);
    }
    for (const c of ctx.consumers) metrics.consumerRunning.set({ consumer: c.name }, c.running ? 1 : 0);
    for (const u of ctx.gateway?.status() ?? []) metrics.inferenceQueued.set({ upstream: u.name }, u.queued);
    const text = await metrics.exposition();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });
}
