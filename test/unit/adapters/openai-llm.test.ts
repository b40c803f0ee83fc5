import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAiLlm, type OpenAiLlmOptions } from '../../../adapters/llm/openai/openai-llm.ts';
import type { ChatMessage } from '../../../ports/llm.ts';
import { CHAT, cannedAnswer, startOpenAiCompatibleServer, type OpenAiCompatibleServer } from '../../fixtures/openai-compatible-server.ts';
import { failure } from '../../helpers/failure.ts';

let server: OpenAiCompatibleServer;

beforeAll(async () => {
  server = await startOpenAiCompatibleServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => server.reset());

function llm(overrides: Partial<OpenAiLlmOptions> = {}): OpenAiLlm {
  return new OpenAiLlm({
    baseUrl: server.baseUrl, apiKey: 'test-key', model: 'test-chat', contextTokens: 8192,
    timeoutMs: 2_000, maxRetries: 3, retryBaseMs: 10, retryMaxMs: 2_000,
    ...overrides,
  });
}

const messages: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'what is CDC' },
];
const answer = cannedAnswer('what is CDC');

/** Consumes a stream, keeping what arrived before it failed. */
async function drain(it: AsyncIterable<string>, got: string[]): Promise<string> {
  for await (const d of it) got.push(d);
  return got.join('');
}

describe('OpenAiLlm against a real OpenAI-compatible HTTP server', () => {
  it('chat: returns the text and usage, sending model, messages and options', async () => {
    const res = await llm().chat(messages, { maxTokens: 64, temperature: 0.2 });
    expect(res).toEqual({ text: answer, usage: { promptTokens: 11, completionTokens: 7 }, finishReason: 'stop' });
    expect(server.requests[0]!.body).toEqual({ model: 'test-chat', messages, max_tokens: 64, temperature: 0.2, stream: false });
    expect(server.requests[0]!.headers.authorization).toBe('Bearer test-key');
  });

  it('id and context window', () => {
    const l = llm();
    expect(l.id).toBe('openai:test-chat');
    expect(l.contextTokens).toBe(8192);
  });

  it('chat: 503 then success is retried', async () => {
    server.script(CHAT, { kind: 'status', status: 503 });
    expect((await llm().chat(messages)).text).toBe(answer);
    expect(server.count(CHAT)).toBe(2);
  });

  it('chat: 429 with retries exhausted → LLM_RATE_LIMITED, retryable, retryAfterMs from retry-after-ms', async () => {
    server.script(CHAT, { kind: 'status', status: 429, headers: { 'retry-after-ms': '2500' } });
    const err = await failure(llm({ maxRetries: 0 }).chat(messages));
    expect([err.code, err.retryable, err.retryAfterMs, err.upstreamStatus]).toEqual(['LLM_RATE_LIMITED', true, 2500, 429]);
  });

  it('chat: 400 → LLM_REJECTED, not retryable, not retried', async () => {
    server.script(CHAT, { kind: 'status', status: 400, body: { error: { message: 'context too long' } } });
    const err = await failure(llm().chat(messages));
    expect([err.code, err.retryable, err.upstreamStatus]).toEqual(['LLM_REJECTED', false, 400]);
    expect(err.message).toContain('context too long');
    expect(server.count(CHAT)).toBe(1);
  });

  it('chat: 500 every time → LLM_UNAVAILABLE after maxRetries + 1 attempts', async () => {
    server.script(CHAT, ...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 500 })));
    const err = await failure(llm({ maxRetries: 2 }).chat(messages));
    expect([err.code, err.retryable, err.upstreamStatus]).toEqual(['LLM_UNAVAILABLE', true, 500]);
    expect(server.count(CHAT)).toBe(3);
  });

  it('stream: yields the deltas of the whole answer', async () => {
    const got: string[] = [];
    const text = await drain(llm().stream(messages), got);
    expect(text).toBe(answer);
    expect(got.length).toBeGreaterThan(3);
    expect((server.requests[0]!.body as { stream?: boolean }).stream).toBe(true);
  });

  it('stream: 429 before the first byte is retried, honouring retry-after-ms', async () => {
    server.script(CHAT, { kind: 'status', status: 429, headers: { 'retry-after-ms': '120' } });
    const started = performance.now();
    expect(await drain(llm().stream(messages), [])).toBe(answer);
    expect(performance.now() - started).toBeGreaterThanOrEqual(110);
    expect(server.count(CHAT)).toBe(2);
  });

  it('stream: a connection reset mid-way throws LLM_UNAVAILABLE after the deltas already sent', async () => {
    server.script(CHAT, { kind: 'stream-reset', afterChunks: 3 });
    const got: string[] = [];
    const err = await failure(drain(llm().stream(messages), got));
    expect(err.code).toBe('LLM_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('mid-way');
    expect(got.join('').length).toBeGreaterThan(0);
    expect(got.join('')).not.toBe(answer);
    expect(server.count(CHAT)).toBe(1); // never retried once bytes were delivered
  });

  it('stream: a clean end without finish_reason throws, never ends silently', async () => {
    server.script(CHAT, { kind: 'stream-end-early', afterChunks: 2 });
    const got: string[] = [];
    const err = await failure(drain(llm().stream(messages), got));
    expect(err.code).toBe('LLM_UNAVAILABLE');
    expect(err.message).toContain('finish_reason');
    expect(got.length).toBe(2);
  });

  it('stream: an error event mid-stream throws LLM_UNAVAILABLE with the upstream message', async () => {
    server.script(CHAT, { kind: 'stream-error-event', afterChunks: 2 });
    const err = await failure(drain(llm().stream(messages), []));
    expect(err.code).toBe('LLM_UNAVAILABLE');
    expect(err.message).toContain('upstream model crashed');
  });

  it('stream: 400 before the first byte → LLM_REJECTED', async () => {
    server.script(CHAT, { kind: 'status', status: 400 });
    const err = await failure(drain(llm().stream(messages), []));
    expect([err.code, err.retryable]).toEqual(['LLM_REJECTED', false]);
  });

  it('stream: a consumer that stops early aborts the upstream request', async () => {
    for await (const _delta of llm().stream(messages)) break;
    await waitFor(() => server.abandonedStreams === 1);
    expect(server.abandonedStreams).toBe(1);
  });

  it('stream: the caller aborting mid-stream reports SHUTTING_DOWN', async () => {
    const ac = new AbortController();
    const got: string[] = [];
    const err = await failure((async () => {
      for await (const d of llm().stream(messages, { signal: ac.signal })) {
        got.push(d);
        if (got.length === 2) ac.abort();
      }
    })());
    expect(err.code).toBe('SHUTTING_DOWN');
  });
});

async function waitFor(cond: () => boolean, ms = 2_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
}
