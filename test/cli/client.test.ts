import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, describeServerError, networkErrorCode, parseRetryAfter, resolveBaseUrl } from '../../cli/client.ts';
import { ExitCodes, findCliError } from '../../cli/errors.ts';

describe('resolveBaseUrl', () => {
  it('takes --server, then TRIBUTARY_URL, then the default; adds http:// and drops trailing slashes', () => {
    expect(resolveBaseUrl(undefined, {})).toBe('http://127.0.0.1:8080');
    expect(resolveBaseUrl(undefined, { TRIBUTARY_URL: 'https://rag.example.com/' })).toBe('https://rag.example.com');
    expect(resolveBaseUrl('localhost:9000', { TRIBUTARY_URL: 'https://ignored.example.com' })).toBe('http://localhost:9000');
  });

  it('rejects what is not an http(s) URL, naming where it came from', () => {
    expect(() => resolveBaseUrl(undefined, { TRIBUTARY_URL: 'ftp://x' })).toThrow(/TRIBUTARY_URL must be an http\(s\) URL/);
    expect(() => resolveBaseUrl('http://', {})).toThrow(/--server is not a valid URL/);
  });
});

describe('ApiClient', () => {
  it('sends the API key as a bearer token when it has one, and no Authorization header otherwise', async () => {
    const seen: Array<Record<string, string>> = [];
    const recordingFetch = (async (_url: string, init: { headers: Record<string, string> }) => {
      seen.push(init.headers);
      return new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof fetch;
    await new ApiClient('http://127.0.0.1:1', { fetch: recordingFetch, apiKey: 'k-123' }).send('GET', '/healthz');
    await new ApiClient('http://127.0.0.1:1', { fetch: recordingFetch }).send('GET', '/healthz');
    expect(seen[0]!['authorization']).toBe('Bearer k-123');
    expect(seen[1]!['authorization']).toBeUndefined();
  });
});

describe('describeServerError', () => {
  it('reads the API error body with field details', () => {
    const d = describeServerError(400, { error: { code: 'INVALID_INPUT', message: 'invalid request body', details: [{ path: 'items.3.content', message: 'content must not be empty' }] } });
    expect(d).toEqual({ code: 'INVALID_INPUT', message: 'invalid request body', details: ['items.3.content: content must not be empty'], retryable: undefined });
  });

  it('reads Fastify default bodies, TributaryError JSON, and text', () => {
    expect(describeServerError(404, { statusCode: 404, error: 'Not Found', message: 'Route GET:/x not found' })).toMatchObject({ code: undefined, message: 'Route GET:/x not found' });
    expect(describeServerError(503, { code: 'SHUTTING_DOWN', message: 'stopping', retryable: true })).toMatchObject({ code: 'SHUTTING_DOWN', retryable: true });
    expect(describeServerError(502, '<html><body><h1>Bad gateway</h1></body></html>').message).toBe('Bad gateway');
  });

  it('makes ApiError messages and retryability from the body and status', () => {
    const e = new ApiError(429, { error: { code: 'RATE_LIMITED', message: 'slow down' } }, 2000);
    expect(e.message).toBe('RATE_LIMITED (HTTP 429): slow down');
    expect(e.retryable).toBe(true);
    expect(e.retryAfterMs).toBe(2000);
    expect(new ApiError(400, { error: { code: 'INVALID_INPUT', message: 'x' } }).retryable).toBe(false);
    expect(new ApiError(500, null).message).toBe('HTTP 500: HTTP 500');
  });
});

describe('network errors', () => {
  it('finds the code under fetch\'s cause, including AggregateError', () => {
    const refused = new TypeError('fetch failed', { cause: new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]) });
    expect(networkErrorCode(refused)).toBe('ECONNREFUSED');
    expect(networkErrorCode(new Error('other'))).toBeUndefined();
  });

  it('says Tributary is not running when the connection is refused (exit 3)', async () => {
    const fetchRefused: typeof fetch = async () => { throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }); };
    const client = new ApiClient('http://127.0.0.1:9', { fetch: fetchRefused });
    const err = await client.json('GET', '/v1/ops/lag').catch((e: unknown) => e);
    const cli = findCliError(err);
    expect(cli?.message).toBe('Tributary is not running at http://127.0.0.1:9; start it with `npm start`');
    expect(cli?.exitCode).toBe(ExitCodes.unavailable);
  });

  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
