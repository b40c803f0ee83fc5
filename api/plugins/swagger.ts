import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/** OpenAPI document generated from the routes' zod schemas: UI at /docs, JSON at /docs/json. Register before the routes. */
export async function registerSwagger(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tributary',
        description: 'Real-time RAG ingestion: publish content, search it, ask questions about it, and watch the pipeline. '
          + 'Every error is `{ error: { code, message, details? } }`.',
        version: '1.0.0',
      },
      tags: [
        { name: 'content', description: 'Publish, read and delete raw documents' },
        { name: 'search', description: 'Hybrid (dense + keyword) search over indexed chunks' },
        { name: 'rag', description: 'Answers with citations' },
        { name: 'ops', description: 'Consumer lag and the dead-letter queue' },
        { name: 'finetune', description: 'Continuous training: datasets, pinned versions and fine-tune jobs' },
        { name: 'health', description: 'Liveness, readiness and metrics' },
        { name: 'inference', description: 'OpenAI-compatible proxy to GPU inference servers' },
      ],
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key with the scope the route needs (ingest, query, inference, admin). Not needed when the server runs without keys (loopback only).' } },
      },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
}
