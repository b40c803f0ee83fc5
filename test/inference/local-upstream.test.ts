import { describe, expect, it } from 'vitest';
import { InferenceGateway } from '../../inference/gateway.ts';
import { InferenceLlm } from '../../inference/inference-llm.ts';
import { LocalUpstream } from '../../inference/local-upstream.ts';
import { TributaryError, findTributaryError } from '../../ports/errors.ts';
import type { ChatMessage, ChatOptions, ChatResult, Llm } from '../../ports/llm.ts';

/**
 * The local upstream's failure paths, on a scripted Llm (the real model cannot be made to fail on
 * cue; its happy paths run in local-upstream.local-llm.test.ts).
 */
class ScriptedLlm implements Llm {
  readonly id = 'scripted';
  readonly contextTokens = 4096;
  private readonly script: { pieces?: string[]; failBefore?: TributaryError; failAfter?: { pieces: number; error: Error } };
  constructor(script: ScriptedLlm['script']) {
    this.script = script;
  }
  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    let text = '';
    for await (const p of this.stream(messages, options)) text += p;
    return { text, usage: { promptTokens: 3, completionTokens: 2 }, finishReason: 'stop' };
  }
  async *stream(_m: ChatMessage[], options: ChatOptions = {}): AsyncIterable<string> {
    if (this.script.failBefore) throw this.script.failBefore;
    for (const [i, p] of (this.script.pieces ?? ['a', 'b']).entries()) {
      if (this.script.failAfter && i === this.script.failAfter.pieces) throw this.script.failAfter.error;
      yield p;
    }
    options.onFinish?.({ usage: { promptTokens: 3, completionTokens: 2 }, finishReason: 'stop' });
  }
}

function gatewayOver(llm: Llm, o: { maxConcurrency?: number; maxQueue?: number; ejectAfter?: number } = {}) {
  return new InferenceGateway({
    upstreams: [],
    localUpstreams: [new LocalUpstream({ name: 'local', model: 'tiny', llm, maxConcurrency: o.maxConcurrency ?? 1, maxQueue: o.maxQueue ?? 4, queueTimeoutMs: 1000 },
      { failureThreshold: o.ejectAfter ?? 3, openMs: 60_000, maxOpenMs: 60_000 })],
    timeouts: { connectMs: 1000, firstByteMs: 1000, idleMs: 1000 }, maxAttempts: 1,
    breaker: { failureThreshold: 3, openMs: 60_000, maxOpenMs: 60_000 }, healthIntervalMs: 0,
  });
}

const send = (g: InferenceGateway, body: Record<string, unknown>, signal = new AbortController().signal) =>
  g.send({ endpoint: 'chat/completions', model: 'tiny', body: Buffer.from(JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'q' }], ...body })), stream: body['stream'] === true, signal });

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; } catch (e) { return findTributaryError(e)?.code; }
  return undefined;
}

describe('the local model as an inference upstream: failures', () => {
  it('a failure after the first piece reaches the caller as a broken stream (error event, no [DONE]), never as a complete answer', async () => {
    const g = gatewayOver(new ScriptedLlm({ pieces: ['one ', 'two ', 'three'], failAfter: { pieces: 2, error: new TributaryError('LLM_UNAVAILABLE', 'the model crashed') } }));
    const llm = new InferenceLlm({ gateway: g, model: 'tiny', contextTokens: 4096 });
    const got: string[] = [];
    const code = await codeOf((async () => { for await (const p of llm.stream([{ role: 'user', content: 'q' }])) got.push(p); })());
    expect(got).toEqual(['one ', 'two ']);
    expect(code).toBe('LLM_UNAVAILABLE');
    const ex = await send(g, { stream: true });
    const raw = await ex.text().catch((e: unknown) => findTributaryError(e)?.code);
    expect(raw).toBe('INFERENCE_STREAM_BROKEN');
    expect(g.status()[0]).toMatchObject({ inFlight: 0, queued: 0 });
    await g.close();
  });

  it('a request the model refuses before any output is a 400 with its reason, and does not count against the upstream', async () => {
    const g = gatewayOver(new ScriptedLlm({ failBefore: new TributaryError('LLM_REJECTED', 'the prompt is about 9000 tokens', { retryable: false }) }), { ejectAfter: 1 });
    for (let i = 0; i < 3; i++) {
      const ex = await send(g, {});
      expect(ex.statusCode).toBe(400);
      expect(JSON.parse(await ex.text())).toMatchObject({ error: { code: 'LLM_REJECTED', message: 'the prompt is about 9000 tokens', type: 'invalid_request_error' } });
    }
    expect(g.status()[0]!.state).toBe('closed');
    await g.close();
  });

  it('a model failing before any output is a 503, and repeated failures eject it like a remote upstream', async () => {
    const g = gatewayOver(new ScriptedLlm({ failBefore: new TributaryError('LLM_UNAVAILABLE', 'out of memory') }), { ejectAfter: 2 });
    for (let i = 0; i < 2; i++) {
      const ex = await send(g, {});
      expect(ex.statusCode).toBe(503);
      expect(JSON.parse(await ex.text())).toMatchObject({ error: { code: 'LLM_UNAVAILABLE', message: 'out of memory' } });
    }
    expect(g.status()[0]!.state).toBe('open');
    expect(await codeOf(send(g, {}))).toBe('INFERENCE_UNAVAILABLE');
    await g.close();
  });

  it('the same caps as a remote upstream: past its slots and queue a request is refused (429), not piled up', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const slow: Llm = {
      id: 'slow', contextTokens: 4096,
      chat: async () => { await gate; return { text: 'x' }; },
      stream: async function* () { await gate; yield 'x'; },
    };
    const g = gatewayOver(slow, { maxConcurrency: 1, maxQueue: 1 });
    const first = send(g, {});
    const second = send(g, {});
    expect(await codeOf(send(g, {}))).toBe('INFERENCE_OVERLOADED');
    release();
    // a slot is held until the answer has been read
    expect(JSON.parse(await (await first).text())).toMatchObject({ choices: [{ message: { content: 'x' } }] });
    expect(JSON.parse(await (await second).text())).toMatchObject({ choices: [{ message: { content: 'x' } }] });
    await g.close();
  });

  it('refuses what it would not honour, naming it: unknown fields, n > 1, json_object, bad messages', async () => {
    const g = gatewayOver(new ScriptedLlm({}));
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ stop: ['\n'] }, /does not support: stop/],
      [{ n: 2 }, /n/],
      [{ response_format: { type: 'json_object' } }, /response_format/],
      [{ messages: [{ role: 'tool', content: 'x' }] }, /messages/],
      [{ messages: [] }, /messages/],
    ];
    for (const [body, message] of cases) {
      const ex = await send(g, body);
      expect(ex.statusCode, JSON.stringify(body)).toBe(400);
      expect((JSON.parse(await ex.text()) as { error: { message: string } }).error.message, JSON.stringify(body)).toMatch(message);
    }
    await g.close();
  });

  it('answers in OpenAI\'s shapes: a JSON completion with usage; SSE chunks with a role, deltas, a finish reason with usage, then [DONE]', async () => {
    const g = gatewayOver(new ScriptedLlm({ pieces: ['Hel', 'lo'] }));
    const whole = JSON.parse(await (await send(g, {})).text()) as Record<string, unknown>;
    expect(whole).toMatchObject({ object: 'chat.completion', model: 'tiny', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } });
    const sse = await (await send(g, { stream: true, stream_options: { include_usage: true } })).text();
    const events = sse.split('\n\n').filter(Boolean).map((b) => b.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }>; usage?: unknown });
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello');
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 2 } });
    await g.close();
  });
});
