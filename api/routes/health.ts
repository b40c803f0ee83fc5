import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.ts';

const consumerStatusSchema = z.object({ name: z.string(), group: z.string(), running: z.boolean(), degraded: z.boolean(), lastError: z.string().nullable() });
const dependencySchema = z.object({
  name: z.string().describe('What it is to the pipeline: index, log …'),
  kind: z.string().describe('Which adapter: qdrant, kafka, embedded …'),
  ok: z.boolean(),
  error: z.string().nullable().describe('Why it is not reachable or not usable'),
});

export const healthRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'Liveness: the process serves requests', response: { 200: z.object({ status: z.literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  const readySchema = z.object({
    status: z.enum(['ready', 'degraded', 'not_ready']).describe('degraded: serving, with a dependency down (named in `down`; the routes that need it answer 503) or a consumer holding its batch while a dependency it needs is down (its `degraded` and `lastError`)'),
    notRunning: z.array(z.string()).describe('Consumers that are not running'),
    down: z.array(z.string()).describe('Dependencies that cannot be reached or used (names from `dependencies`)'),
    consumers: z.array(consumerStatusSchema),
    dependencies: z.array(dependencySchema),
    models: z.object({
      embedder: z.object({ id: z.string(), kind: z.enum(['hashing', 'openai', 'onnx']), dimension: z.number(), source: z.string() }),
      llm: z.object({
        id: z.string().nullable(),
        kind: z.enum(['local', 'openai', 'upstream', 'none']),
        source: z.string(),
        local: z.object({ modelId: z.string(), file: z.string(), gpu: z.string(), threads: z.number(), contextTokens: z.number(), concurrency: z.number(), loadMs: z.number() }).optional(),
      }),
      answers: z.enum(['llm', 'extractive']).describe('How RAG answers are written: by the LLM, or extractively (no LLM configured or pulled)'),
    }).describe('Which embedder and LLM this process runs, and where they came from'),
  });
  app.get('/readyz', {
    schema: {
      tags: ['health'],
      summary: 'Readiness: 503 when a pipeline consumer of this process is not running or the document store does not answer; 200 otherwise, naming any other dependency that is down (status "degraded")',
      description: 'Only what every route of this process needs gates readiness: a down index or event log does not take the API out of '
        + 'service (content can still be published, the inference proxy still answers); it is reported in `down` and `dependencies`.',
      response: { 200: readySchema, 503: readySchema },
    },
  }, async (_request, reply) => {
    const consumers = ctx.consumers.map((c) => c.status);
    const dependencies = await ctx.checkDependencies();
    const notRunning = consumers.filter((c) => !c.running).map((c) => c.name);
    const down = dependencies.filter((d) => !d.ok).map((d) => d.name);
    const ready = notRunning.length === 0 && !down.includes('store');
    const status = !ready ? 'not_ready' : down.length > 0 || consumers.some((c) => c.degraded) ? 'degraded' : 'ready';
    return reply.status(ready ? 200 : 503).send({ status, notRunning, down, consumers, dependencies, models: ctx.models });
  });
};
