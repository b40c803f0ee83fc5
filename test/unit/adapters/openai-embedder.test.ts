import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAiEmbedder, type OpenAiEmbedderOptions } from '../../../adapters/embedder/openai/openai-embedder.ts';
import { errorCode, isRetryable } from '../../../ports/errors.ts';
import { EMBEDDINGS, fakeVector, startOpenAiCompatibleServer, type OpenAiCompatibleServer } from '../../fixtures/openai-compatible-server.ts';
import { freePort } from '../../helpers/free-port.ts';
import { failure } from '../../helpers/failure.ts';

let server: OpenAiCompatibleServer;

beforeAll(async () => {
  server = await startOpenAiCompatibleServer({ dimension: 8 });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
  server.dimension = 8;
});

function embedder(overrides: Partial<OpenAiEmbedderOptions> = {}): OpenAiEmbedder {
  return new OpenAiEmbedder({
    baseUrl: server.baseUrl, apiKey: 'test-key', model: 'test-embed', dimension: 8,
    maxBatch: 16, timeoutMs: 2_000, maxRetries: 3, retryBaseMs: 10, retryMaxMs: 2_000,
    ...overrides,
  });
}

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe('OpenAiEmbedder against a real OpenAI-compatible HTTP server', () => {
  it('embeds in batches of maxBatch, in input order, normalised, asking for floats', async () => {
    const e = embedder({ maxBatch: 2 });
    const texts = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
    const vectors = await e.embed(texts);

    expect(server.count(EMBEDDINGS)).toBe(3);
    expect(vectors).toHaveLength(5);
    for (const [i, v] of vectors.entries()) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v).toHaveLength(8);
      expect(norm(v)).toBeCloseTo(1, 5);
      // the server answers in reverse order: vectors must be placed by `index`
      const expected = fakeVector(texts[i]!, 8);
      const en = Math.sqrt(expected.reduce((s, x) => s + x * x, 0));
      expect(v[3]).toBeCloseTo(expected[3]! / en, 5);
    }
    const first = server.requests[0]!;
    expect(first.body).toEqual({ model: 'test-embed', input: ['alpha', 'beta'], encoding_format: 'float' });
    expect(first.headers.authorization).toBe('Bearer test-key');
    expect(e.id).toBe('openai:test-embed');
    expect(e.capabilities).toEqual({ dimension: 8, maxBatch: 2, maxInputTokens: 8191, normalized: true });
  });

  it('returns [] for no texts without calling the server', async () => {
    expect(await embedder().embed([])).toEqual([]);
    expect(server.count(EMBEDDINGS)).toBe(0);
  });

  it('sends no Authorization header when no API key is configured', async () => {
    await embedder({ apiKey: undefined }).embed(['x']);
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('learns the dimension from the first response, never from a probe at start-up', async () => {
    const e = embedder({ dimension: undefined });
    expect(e.capabilities.dimension).toBe(0);
    expect(server.count(EMBEDDINGS)).toBe(0);
    await e.embed(['one']);
    expect(e.capabilities.dimension).toBe(8);
    // later answers are held to what was learned
    server.script(EMBEDDINGS, { kind: 'dimension', dimension: 9 });
    const err = await failure(e.embed(['two']));
    expect(err.code).toBe('EMBEDDER_DIMENSION_MISMATCH');
  });

  it('knows the dimension of well-known OpenAI models before any call', () => {
    expect(embedder({ model: 'text-embedding-3-small', dimension: undefined }).capabilities.dimension).toBe(1536);
  });

  it('sends `dimensions` only when asked, and keys the id by it', async () => {
    const e = embedder({ requestDimensions: true });
    await e.embed(['x']);
    expect((server.requests[0]!.body as { dimensions?: number }).dimensions).toBe(8);
    expect(e.id).toBe('openai:test-embed:d8');
  });

  it('429 with Retry-After: 1 is retried after at least a second, then succeeds', async () => {
    server.script(EMBEDDINGS, { kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const started = performance.now();
    const vectors = await embedder().embed(['a', 'b']);
    const elapsed = performance.now() - started;
    expect(vectors).toHaveLength(2);
    expect(server.count(EMBEDDINGS)).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(950);
    const gap = server.requests[1]!.at - server.requests[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(950);
  });

  it('honours retry-after-ms', async () => {
    server.script(EMBEDDINGS, { kind: 'status', status: 429, headers: { 'retry-after-ms': '150' } });
    const started = performance.now();
    await embedder().embed(['a']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(server.count(EMBEDDINGS)).toBe(2);
  });

  it('500 then success: retried, succeeds', async () => {
    server.script(EMBEDDINGS, { kind: 'status', status: 500 });
    const vectors = await embedder().embed(['a']);
    expect(vectors).toHaveLength(1);
    expect(server.count(EMBEDDINGS)).toBe(2);
  });

  it('5xx every time: a bounded number of attempts, then EMBEDDER_UNAVAILABLE (retryable, status kept)', async () => {
    server.script(EMBEDDINGS, ...Array.from({ length: 5 }, () => ({ kind: 'status' as const, status: 503 })));
    const err = await failure(embedder({ maxRetries: 2 }).embed(['a']));
    expect(server.count(EMBEDDINGS)).toBe(3);
    expect(err.code).toBe('EMBEDDER_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.upstreamStatus).toBe(503);
    expect(err.message).toContain('after 3 attempts');
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('429 with retries exhausted: EMBEDDER_RATE_LIMITED, retryable, carrying retryAfterMs', async () => {
    server.script(EMBEDDINGS, { kind: 'status', status: 429, headers: { 'retry-after': '7' } });
    const started = performance.now();
    const err = await failure(embedder({ maxRetries: 0 }).embed(['a']));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(server.count(EMBEDDINGS)).toBe(1);
    expect(err.code).toBe('EMBEDDER_RATE_LIMITED');
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(7_000);
    expect(err.upstreamStatus).toBe(429);
    expect(isRetryable(err)).toBe(true);
  });

  it('a Retry-After longer than retryMaxMs is not slept through: thrown at once for the caller to back off', async () => {
    server.script(EMBEDDINGS, { kind: 'status', status: 429, headers: { 'retry-after': '60' } });
    const started = performance.now();
    const err = await failure(embedder({ maxRetries: 3, retryMaxMs: 1_000 }).embed(['a']));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(server.count(EMBEDDINGS)).toBe(1);
    expect(err.code).toBe('EMBEDDER_RATE_LIMITED');
    expect(err.retryAfterMs).toBe(60_000);
  });

  it('400: EMBEDDER_REJECTED, not retryable, not retried, status and cause kept', async () => {
    server.script(EMBEDDINGS, { kind: 'status', status: 400, body: { error: { message: 'input too long', type: 'invalid_request_error' } } });
    const err = await failure(embedder().embed(['a']));
    expect(server.count(EMBEDDINGS)).toBe(1);
    expect(err.code).toBe('EMBEDDER_REJECTED');
    expect(err.retryable).toBe(false);
    expect(err.upstreamStatus).toBe(400);
    expect(err.scope).toBe('record');
    expect(err.message).toContain('input too long');
    expect((err.cause as { status?: number }).status).toBe(400);
  });

  it('401: EMBEDDER_REJECTED, not retryable, of every request alike (batch scope: the consumer waits, never dead-letters)', async () => {
    server.script(EMBEDDINGS, { kind: 'status', status: 401 });
    const err = await failure(embedder().embed(['a']));
    expect([err.code, err.retryable, err.upstreamStatus, err.scope]).toEqual(['EMBEDDER_REJECTED', false, 401, 'batch']);
  });

  it('a vector of the wrong dimension: EMBEDDER_DIMENSION_MISMATCH, not retried', async () => {
    server.script(EMBEDDINGS, { kind: 'dimension', dimension: 7 });
    const err = await failure(embedder().embed(['a', 'b']));
    expect(err.code).toBe('EMBEDDER_DIMENSION_MISMATCH');
    expect(err.retryable).toBe(false);
    expect(err.details).toEqual({ expected: 8, got: 7 });
    expect(server.count(EMBEDDINGS)).toBe(1);
  });

  it('the wrong number of embeddings: EMBEDDER_REJECTED', async () => {
    server.script(EMBEDDINGS, { kind: 'drop-one' });
    const err = await failure(embedder().embed(['a', 'b', 'c']));
    expect(err.code).toBe('EMBEDDER_REJECTED');
    expect(err.message).toContain('2 embeddings for 3 inputs');
  });

  it('a time-out: EMBEDDER_UNAVAILABLE, retryable', async () => {
    server.script(EMBEDDINGS, { kind: 'hang', ms: 600 });
    const err = await failure(embedder({ timeoutMs: 100, maxRetries: 0 }).embed(['a']));
    expect(err.code).toBe('EMBEDDER_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('timed out');
  });

  it('a time-out is retried like any unavailability', async () => {
    server.script(EMBEDDINGS, { kind: 'hang', ms: 600 });
    const vectors = await embedder({ timeoutMs: 200, maxRetries: 1 }).embed(['a']);
    expect(vectors).toHaveLength(1);
    expect(server.count(EMBEDDINGS)).toBe(2);
  });

  it('nothing listening: EMBEDDER_UNAVAILABLE, retryable, after the bounded retries', async () => {
    const port = await freePort();
    const e = new OpenAiEmbedder({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm', dimension: 8, maxBatch: 4, timeoutMs: 1_000, maxRetries: 1, retryBaseMs: 5 });
    const err = await failure(e.embed(['a']));
    expect(err.code).toBe('EMBEDDER_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('could not connect');
    expect(err.message).toContain('after 2 attempts');
  });

  it('an aborted call stops retrying and reports SHUTTING_DOWN', async () => {
    server.script(EMBEDDINGS, { kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const started = performance.now();
    const err = await failure(embedder().embed(['a'], ac.signal));
    expect(performance.now() - started).toBeLessThan(900);
    expect(err.code).toBe('SHUTTING_DOWN');
    expect(server.count(EMBEDDINGS)).toBe(1);
    expect(errorCode(err)).toBe('SHUTTING_DOWN');
  });
});

