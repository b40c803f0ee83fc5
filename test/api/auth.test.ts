import { afterEach, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../api/auth/api-key-config.ts';
import { scopeTable } from '../../api/auth/route-scopes.ts';
import { isLoopbackHost, startServer } from '../../api/server.ts';
import { loadConfig } from '../../wiring/config.ts';
import { startApiHarness, type ApiHarness } from '../helpers/api-system.ts';

const KEYS = {
  ingest: 'trb_ingest_0123456789abcdef',
  query: 'trb_query_0123456789abcdef',
  admin: 'trb_admin_0123456789abcdef',
  limited: 'trb_limited_0123456789abcdef',
};
const apiKeys = [
  { name: 'producer', sha256: hashApiKey(KEYS.ingest), scopes: ['ingest'] },
  { name: 'reader', sha256: `sha256:${hashApiKey(KEYS.query).toUpperCase()}`, scopes: ['query'] },
  { name: 'ops', sha256: hashApiKey(KEYS.admin), scopes: ['admin'] },
  { name: 'slow', sha256: hashApiKey(KEYS.limited), scopes: ['query', 'ingest'], requestsPerMinute: 3 },
];
const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
const doc = { category: 'post', author: 'a', content: 'hello world' };

describe('API access control', () => {
  let h: ApiHarness;
  afterEach(async () => { await h?.close(); });

  it('401 without a key, with a malformed header or with a wrong key; the key is never echoed', async () => {
    h = await startApiHarness({ config: { apiKeys } });
    const none = await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'x' } });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer realm="tributary"/);
    expect(none.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringContaining('Authorization: Bearer') } });
    const basic = await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'x' }, headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.statusCode).toBe(401);
    const wrong = await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'x' }, headers: bearer('trb_guess_123') });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).not.toContain('trb_guess_123');
    expect(wrong.json()).toMatchObject({ error: { code: 'UNAUTHORIZED', message: 'the API key is not valid' } });
  });

  it('403 when the key lacks the route\'s scope, naming the scope needed', async () => {
    h = await startApiHarness({ config: { apiKeys } });
    const publish = await h.app.inject({ method: 'POST', url: '/v1/content', payload: doc, headers: bearer(KEYS.ingest) });
    expect(publish.statusCode).toBe(202);
    const id = (publish.json() as { ids: string[] }).ids[0]!;
    const search = await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'hello' }, headers: bearer(KEYS.ingest) });
    expect(search.statusCode).toBe(403);
    expect(search.json()).toMatchObject({ error: { code: 'FORBIDDEN', message: expect.stringContaining('"query" scope'), details: { required: 'query', granted: ['ingest'] } } });
    expect((await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'hello' }, headers: bearer(KEYS.query) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: `/v1/content/${id}`, headers: bearer(KEYS.query) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'DELETE', url: `/v1/content/${id}`, headers: bearer(KEYS.query) })).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'POST', url: '/v1/content', payload: doc, headers: bearer(KEYS.query) })).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'GET', url: '/v1/ops/lag', headers: bearer(KEYS.query) })).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'GET', url: '/metrics', headers: bearer(KEYS.ingest) })).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(KEYS.query) })).statusCode).toBe(403);
    // admin may do everything
    expect((await h.app.inject({ method: 'GET', url: '/v1/ops/lag', headers: bearer(KEYS.admin) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/metrics', headers: bearer(KEYS.admin) })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'DELETE', url: `/v1/content/${id}`, headers: bearer(KEYS.admin) })).statusCode).toBe(202);
    expect((await h.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(KEYS.admin) })).statusCode).toBe(200);
  });

  it('liveness, readiness and the docs stay open; unknown routes need admin (closed by default)', async () => {
    h = await startApiHarness({ config: { apiKeys } });
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503); // consumers not started: but not 401
    expect((await h.app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
    expect([200, 302]).toContain((await h.app.inject({ method: 'GET', url: '/docs' })).statusCode);
    expect((await h.app.inject({ method: 'GET', url: '/v1/nope' })).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/v1/nope', headers: bearer(KEYS.admin) })).statusCode).toBe(404);
    // every route the app serves has an explicit entry in the scope table
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const table = scopeTable();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const m of Object.keys(methods)) {
        const key = `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;
        expect(table[key], key).toBeDefined();
      }
    }
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics', headers: bearer(KEYS.admin) })).body;
    expect(metrics).toMatch(/tributary_auth_rejections_total\{reason="missing"\} 1/);
  });

  it('the OpenAPI document says who needs a key: none on open routes, and guarded ones list 401, 403 and 429', async () => {
    h = await startApiHarness({ config: { apiKeys } });
    type Operation = { security?: unknown[]; responses: Record<string, { headers?: Record<string, { required?: boolean }> }> };
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json() as { security?: unknown; paths: Record<string, Record<string, Operation>> };
    expect(doc.security).toBeUndefined();
    for (const path of ['/healthz', '/readyz']) {
      expect(doc.paths[path]!['get']!.security, path).toEqual([]);
      expect(Object.keys(doc.paths[path]!['get']!.responses), path).not.toContain('401');
    }
    const search = doc.paths['/v1/search']!['post']!;
    expect(search.security).toEqual([{ apiKey: [] }]);
    expect(Object.keys(search.responses)).toEqual(expect.arrayContaining(['400', '401', '403', '413', '415', '429', '500', '503']));
    expect(search.responses['401']!.headers!['www-authenticate']!.required).toBe(true);
    expect(doc.paths['/v1/ops/lag']!['get']!.responses['429']!.headers!['retry-after']!.required).toBe(true);
    // without keys nothing needs one, and nothing answers 401
    const open = await startApiHarness();
    try {
      const openDoc = (await open.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, Operation>> };
      expect(openDoc.paths['/v1/search']!['post']!.security).toEqual([]);
      expect(Object.keys(openDoc.paths['/v1/search']!['post']!.responses)).not.toContain('401');
    } finally {
      await open.close();
    }
  });

  it('per-key request rate: 429 RATE_LIMITED with Retry-After once the bucket is empty', async () => {
    h = await startApiHarness({ config: { apiKeys } });
    for (let i = 0; i < 3; i++) {
      expect((await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'x' }, headers: bearer(KEYS.limited) })).statusCode).toBe(200);
    }
    const limited = await h.app.inject({ method: 'POST', url: '/v1/content', payload: doc, headers: bearer(KEYS.limited) });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(19); // 3/min: one every 20 s
    expect(limited.json()).toMatchObject({ error: { code: 'RATE_LIMITED', details: { limit: 'requests', perMinute: 3 } } });
    // other keys are not affected
    expect((await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'x' }, headers: bearer(KEYS.query) })).statusCode).toBe(200);
  });

  it('without keys everything is open, and the server refuses a non-loopback HOST', async () => {
    h = await startApiHarness({ config: { host: '0.0.0.0', port: 0 } });
    expect((await h.app.inject({ method: 'GET', url: '/v1/ops/lag' })).statusCode).toBe(200);
    await expect(startServer(h.system)).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/HOST=0\.0\.0\.0 would expose the API without access control/) });
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('127.1.2.3')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('::')).toBe(false);
    expect(isLoopbackHost('192.168.1.10')).toBe(false);
  });
});

describe('access control configuration', () => {
  it('reads keys from TRIBUTARY_API_KEYS, refusing plain keys and naming the variable', () => {
    const ok = loadConfig({ TRIBUTARY_API_KEYS: JSON.stringify([{ name: 'a', sha256: hashApiKey('k'), scopes: ['query'] }]) });
    expect(ok.apiKeys[0]).toMatchObject({ name: 'a', scopes: ['query'] });
    expect(() => loadConfig({ TRIBUTARY_API_KEYS: JSON.stringify([{ name: 'a', sha256: 'my-plain-key', scopes: ['query'] }]) }))
      .toThrow(/TRIBUTARY_API_KEYS \(apiKeys\[0\]\.sha256\): must be the hex SHA-256/);
    expect(() => loadConfig({ TRIBUTARY_API_KEYS: '[{' })).toThrow(/TRIBUTARY_API_KEYS \(apiKeys\): is not valid JSON/);
    expect(() => loadConfig({ TRIBUTARY_API_KEYS: JSON.stringify([{ name: 'a', sha256: hashApiKey('k'), scopes: ['root'] }]) })).toThrow(/apiKeys\[0\]\.scopes/);
    expect(() => loadConfig({ TRIBUTARY_API_KEYS_FILE: '/nonexistent/keys.json' })).toThrow(/TRIBUTARY_API_KEYS_FILE=\/nonexistent\/keys.json could not be read/);
  });

  it('reads upstreams from TRIBUTARY_INFERENCE_UPSTREAMS and checks TRIBUTARY_LLM_UPSTREAM against them', () => {
    const env = { TRIBUTARY_INFERENCE_UPSTREAMS: '[{"name":"gpu-a","url":"http://127.0.0.1:9001","models":["llama-3.1-8b"],"maxConcurrency":16}]' };
    expect(loadConfig(env).inferenceUpstreams[0]).toMatchObject({ name: 'gpu-a', maxConcurrency: 16, maxQueue: 64, queueTimeoutMs: 30_000 });
    expect(() => loadConfig({ ...env, TRIBUTARY_LLM_UPSTREAM: 'gpt-4' })).toThrow(/TRIBUTARY_LLM_UPSTREAM \(llmUpstream\): no upstream .* serves model "gpt-4" \(known: llama-3.1-8b\)/);
    expect(loadConfig({ ...env, TRIBUTARY_LLM_UPSTREAM: 'llama-3.1-8b' }).llmUpstream).toBe('llama-3.1-8b');
    expect(() => loadConfig({ TRIBUTARY_INFERENCE_UPSTREAMS: '[{"name":"a","url":"ftp://x","models":["m"]}]' })).toThrow(/inferenceUpstreams\[0\]\.url/);
    expect(() => loadConfig({ TRIBUTARY_INFERENCE_UPSTREAMS: '[{"name":"a","url":"http://x","models":["m"]},{"name":"a","url":"http://y","models":["m"]}]' })).toThrow(/used twice/);
  });
});
