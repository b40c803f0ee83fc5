import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServer } from '../../api/server.ts';
import { startApiHarness, type ApiHarness } from '../helpers/api-system.ts';

describe('health, metrics and docs', () => {
  let h: ApiHarness;
  beforeEach(async () => { h = await startApiHarness({ config: { port: 0 } }); });
  afterEach(async () => { await h.close(); });

  it('healthz is ok', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('readyz is 503 until every consumer runs, and again when one stops', async () => {
    const names = h.system.consumers.map((c) => c.name);
    expect(names.length).toBeGreaterThan(1);
    const before = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(before.statusCode).toBe(503);
    expect((before.json() as { notRunning: string[] }).notRunning.sort()).toEqual([...names].sort());

    await h.system.start();
    const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', notRunning: [] });

    await h.system.consumers[1]!.stop();
    const degraded = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(degraded.statusCode).toBe(503);
    expect(degraded.json()).toMatchObject({ status: 'not_ready', notRunning: [names[1]] });
  });

  it('readyz: a dependency down other than the store is "degraded" (still 200, named in down); the store down is 503', async () => {
    await h.system.start();
    // the real checks answer for the real embedded adapters; a dependency is taken down by wrapping its check
    const real = h.system.checkDependencies.bind(h.system);
    const down = (name: string) => async () => (await real()).map((d) => (d.name === name ? { ...d, ok: false, error: `${name} unreachable` } : d));
    const original = h.system.checkDependencies;
    try {
      (h.system as { checkDependencies: typeof original }).checkDependencies = down('index');
      const degraded = await h.app.inject({ method: 'GET', url: '/readyz' });
      expect(degraded.statusCode).toBe(200);
      expect(degraded.json()).toMatchObject({ status: 'degraded', down: ['index'] });
      (h.system as { checkDependencies: typeof original }).checkDependencies = down('store');
      const out = await h.app.inject({ method: 'GET', url: '/readyz' });
      expect(out.statusCode).toBe(503);
      expect(out.json()).toMatchObject({ status: 'not_ready', down: ['store'] });
    } finally {
      (h.system as { checkDependencies: typeof original }).checkDependencies = original;
    }
    const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json()).toMatchObject({ status: 'ready', down: [], dependencies: expect.arrayContaining([expect.objectContaining({ name: 'index', kind: 'embedded', ok: true })]) });
  });

  it('readyz: a consumer holding its batch while a dependency is down makes the process "degraded" (still 200), naming its last error', async () => {
    await h.system.start();
    const consumer = h.system.consumers[0]!;
    const real = consumer.status;
    // the consumer's own status, as StageConsumer reports it while a batch-scoped failure holds its batch
    Object.defineProperty(consumer, 'status', { configurable: true, get: () => ({ ...real, degraded: true, lastError: 'SCHEMA_REGISTRY_UNAVAILABLE: registry unreachable' }) });
    try {
      const res = await h.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'degraded', down: [], consumers: expect.arrayContaining([expect.objectContaining({ name: real.name, degraded: true, lastError: expect.stringContaining('SCHEMA_REGISTRY_UNAVAILABLE') })]) });
    } finally {
      delete (consumer as { status?: unknown }).status;
    }
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ status: 'ready' });
  });

  it('serves Prometheus metrics with request counts and consumer lag', async () => {
    await h.app.inject({ method: 'POST', url: '/v1/content', payload: { category: 'post', author: 'a', content: 'hello' } });
    const res = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/tributary_http_requests_total\{route="\/v1\/content",method="POST",status="202"\} 1/);
    expect(res.body).toMatch(/tributary_consumer_lag\{group="clean",topic="tributary\.cdc\.tributary\.documents",partition="\d+"\} 1/);
    expect(res.body).toMatch(/tributary_consumer_running\{consumer="[^"]+"\} 0/);
  });

  it('publishes the OpenAPI document and the docs UI', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, { requestBody?: unknown }>> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of ['/v1/content', '/v1/content/{id}', '/v1/search', '/v1/rag/query', '/v1/ops/lag', '/v1/ops/dlq', '/v1/ops/dlq/replay', '/healthz', '/readyz']) {
      expect(doc.paths[p], p).toBeDefined();
    }
    expect(JSON.stringify(doc.paths['/v1/search']!['post']!.requestBody)).toContain('query');
    const ui = await h.app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(ui.statusCode);
  });

  it('startServer listens on the configured host and port', async () => {
    const server = await startServer(h.system);
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    } finally {
      await server.close();
    }
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});
