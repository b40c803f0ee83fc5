import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { System } from '../wiring/system.ts';
import { inferenceGatewayFor } from '../wiring/models.ts';
import { registerAuth } from './plugins/auth.ts';
import { registerErrorHandler } from './plugins/error-handler.ts';
import { observeInference } from './plugins/inference-observability.ts';
import { registerJsonBodyParser } from './plugins/json-body.ts';
import { registerMetrics } from './plugins/metrics.ts';
import { registerSwagger } from './plugins/swagger.ts';
import { contentRoutes } from './routes/content.ts';
import { healthRoutes } from './routes/health.ts';
import { inferenceRoutes } from './routes/inference.ts';
import { opsRoutes } from './routes/ops.ts';
import { ragRoutes } from './routes/rag.ts';
import { searchRoutes } from './routes/search.ts';
import { zodValidatorCompiler } from './validation.ts';

export interface BuildAppOptions {
  /** Log requests through the system's logger (default: off, e.g. in tests). */
  logger?: boolean;
}

/**
 * The Fastify app on top of a built `System`. It does not listen (see server.ts) and does not
 * own the system: closing the app leaves the system open. Tests drive it with `app.inject()`.
 */
export async function buildApp(system: System, opts: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: system.config.bodyLimitBytes,
    ...(opts.logger ? { loggerInstance: system.logger.child({ component: 'api' }) } : { logger: false }),
    requestIdHeader: 'x-request-id',
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>() as unknown as FastifyInstance;

  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(app, { bodyLimitBytes: system.config.bodyLimitBytes });
  // before every route: it guards them all (see auth/route-scopes.ts)
  const access = registerAuth(app, { keys: system.config.apiKeys, metrics: system.metrics, logger: system.logger });
  registerJsonBodyParser(app, { bodyLimit: system.config.bodyLimitBytes });
  await registerSwagger(app);
  registerMetrics(app, system);

  // the inference proxy core is shared with the RAG LLM (TRIBUTARY_LLM_UPSTREAM); the app starts its
  // health checks and closes it when the app closes
  const gateway = inferenceGatewayFor(system.config);
  if (gateway) {
    const unobserve = observeInference(gateway, system.metrics, system.logger.child({ component: 'inference' }));
    gateway.start();
    app.addHook('onClose', async () => {
      unobserve();
      await gateway.close();
    });
  }

  await app.register(healthRoutes, { system });
  await app.register(contentRoutes, { system });
  await app.register(searchRoutes, { system });
  await app.register(ragRoutes, { system });
  await app.register(opsRoutes, { system });
  await app.register(inferenceRoutes, { system, gateway, access });
  await app.ready();
  return app;
}
