import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { System } from '../wiring/system.ts';
import { registerErrorHandler } from './plugins/error-handler.ts';
import { registerJsonBodyParser } from './plugins/json-body.ts';
import { registerMetrics } from './plugins/metrics.ts';
import { registerSwagger } from './plugins/swagger.ts';
import { contentRoutes } from './routes/content.ts';
import { healthRoutes } from './routes/health.ts';
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
  registerJsonBodyParser(app, { bodyLimit: system.config.bodyLimitBytes });
  await registerSwagger(app);
  registerMetrics(app, system);

  await app.register(healthRoutes, { system });
  await app.register(contentRoutes, { system });
  await app.register(searchRoutes, { system });
  await app.register(ragRoutes, { system });
  await app.register(opsRoutes, { system });
  await app.ready();
  return app;
}
