import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiContext } from './context.ts';
import { registerAuth } from './plugins/auth.ts';
import { answerFrameworkError, registerErrorHandler } from './plugins/error-handler.ts';
import { observeInference } from './plugins/inference-observability.ts';
import { registerJsonBodyParser } from './plugins/json-body.ts';
import { registerMetrics } from './plugins/metrics.ts';
import { MetricNames } from '../observability/metrics.ts';
import { registerSharedResponses } from './plugins/shared-responses.ts';
import { registerSwagger } from './plugins/swagger.ts';
import { registerTracing } from './plugins/tracing.ts';
import { contentRoutes } from './routes/content.ts';
import { feedbackRoutes } from './routes/feedback.ts';
import { finetuneRoutes } from './routes/finetune.ts';
import { traceRoutes } from './routes/traces.ts';
import { healthRoutes } from './routes/health.ts';
import { inferenceRoutes } from './routes/inference.ts';
import { opsRoutes } from './routes/ops.ts';
import { opsPageRoutes } from './routes/ops-page.ts';
import { ragRoutes } from './routes/rag.ts';
import { searchRoutes } from './routes/search.ts';
import { consumerLag } from './services/lag.ts';
import { OpsHistory, type OpsHistoryOptions } from './services/ops-history.ts';
import { MAX_PATH_PARAM_CHARS } from './schemas.ts';
import { zodValidatorCompiler } from './validation.ts';

export interface BuildAppOptions {
  /** Log requests through the context's logger (default: off, e.g. in tests). */
  logger?: boolean;
  /** The /ops charts' sampler: how often, and how far back (default every 5 s, one hour). */
  opsHistory?: OpsHistoryOptions;
}

/**
 * The Fastify app on top of an `ApiContext` (ports, not the composition root). It does not listen
 * (see server.ts) and does not own the context: closing the app leaves it open. Tests drive it with `app.inject()`.
 */
export async function buildApp(ctx: ApiContext, opts: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: ctx.settings.bodyLimitBytes,
    ...(opts.logger ? { loggerInstance: ctx.logger.child({ component: 'api' }) } : { logger: false }),
    requestIdHeader: 'x-request-id',
    return503OnClosing: true,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_CHARS },
    frameworkErrors: answerFrameworkError(ctx.settings.bodyLimitBytes),
  }).withTypeProvider<ZodTypeProvider>() as unknown as FastifyInstance;

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // first: a span per request, active in every hook and handler after it
  registerTracing(app);
  registerErrorHandler(app, { bodyLimitBytes: ctx.settings.bodyLimitBytes });
  // before every route: it guards them all (see auth/route-scopes.ts)
  const access = registerAuth(app, { keys: ctx.settings.apiKeys, metrics: ctx.metrics, logger: ctx.logger });
  // the errors every route shares and its security requirement, declared on each route (and so documented)
  registerSharedResponses(app, { secured: !access.open });
  registerJsonBodyParser(app, { bodyLimit: ctx.settings.bodyLimitBytes });
  await registerSwagger(app);
  registerMetrics(app, ctx);

  // the inference proxy core (shared with the RAG LLM, TRIBUTARY_LLM_UPSTREAM) is owned by the context's
  // builder, which starts and closes it; the app only observes it while it is open
  const { gateway } = ctx;
  if (gateway) {
    const unobserve = observeInference(gateway, ctx.metrics, ctx.logger.child({ component: 'inference' }));
    app.addHook('onClose', async () => { unobserve(); });
  }

  await app.register(healthRoutes, { ctx });
  await app.register(contentRoutes, { ctx });
  await app.register(searchRoutes, { ctx });
  await app.register(ragRoutes, { ctx });
  await app.register(feedbackRoutes, { ctx });
  await app.register(finetuneRoutes, { ctx });
  await app.register(traceRoutes, { ctx });
  // lag and freshness over time for the /ops page, sampled while the app is open
  const history = new OpsHistory({
    lag: () => consumerLag(ctx), logger: ctx.logger.child({ component: 'ops-history' }),
    freshness: { pipeline: ctx.metrics.combined(ctx.metrics.freshnessSeconds, MetricNames.freshnessSeconds), probe: ctx.metrics.freshnessProbeSeconds },
  }, opts.opsHistory);
  app.addHook('onReady', async () => { history.start(); });
  app.addHook('onClose', async () => { await history.stop(); });
  await app.register(opsRoutes, { ctx, history });
  await app.register(opsPageRoutes);
  await app.register(inferenceRoutes, { ctx, gateway, access });
  await app.ready();
  return app;
}
