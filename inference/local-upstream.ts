import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { describeIssues } from '../common/zod-issues.ts';
import { findTributaryError, toTributaryError } from '../ports/errors.ts';
import type { ChatMessage, ChatOptions, FinishInfo, Llm } from '../ports/llm.ts';
import type { CircuitBreakerOptions } from './circuit-breaker.ts';
import { UpstreamBase, type UpstreamResponse } from './upstream.ts';

export interface LocalUpstreamOptions {
  name: string;
  /** The model id clients send (`model`), served by `llm`. */
  model: string;
  llm: Llm;
  maxConcurrency: number;
  maxQueue: number;
  queueTimeoutMs: number;
}

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });
const messageSchema = z.strictObject({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(textPart).min(1)]),
  name: z.string().optional(),
});

/** The chat completion fields the local model honours; any other field is refused (never silently ignored). */
const chatRequestSchema = z.strictObject({
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  n: z.literal(1).nullish(),
  response_format: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('text') }),
    z.strictObject({
      type: z.literal('json_schema'),
      json_schema: z.strictObject({ name: z.string().min(1), schema: z.record(z.string(), z.unknown()), strict: z.boolean().nullish(), description: z.string().optional() }),
    }),
  ]).optional(),
  user: z.string().optional(),
});
type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Error body in OpenAI's shape. */
function errorBody(status: number, message: string, code: string, param?: string): Buffer {
  const type = status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error';
  return Buffer.from(JSON.stringify({ error: { message, type, code, param: param ?? null } }));
}

/** Token counts in OpenAI's `usage` shape. */
function openAiUsage(u: { promptTokens: number; completionTokens: number }) {
  return { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.promptTokens + u.completionTokens };
}

function jsonResponse(statusCode: number, body: Buffer): UpstreamResponse {
  return { statusCode, headers: { 'content-type': 'application/json', 'content-length': String(body.byteLength) }, body: Readable.from([body]) };
}

/**
 * A model running in this process (the local LLM) as an upstream of the inference gateway: it speaks
 * the OpenAI chat completions protocol (JSON and SSE) on the `Llm` port, so the proxy's routing,
 * concurrency caps, queue, ejection and metrics treat it exactly as a remote GPU server. Closing the
 * response body (a client that left) aborts the generation.
 */
export class LocalUpstream extends UpstreamBase {
  private readonly llm: Llm;
  private readonly model: string;

  constructor(o: LocalUpstreamOptions, breaker: CircuitBreakerOptions) {
    super({ name: o.name, models: [o.model], maxConcurrency: o.maxConcurrency, maxQueue: o.maxQueue, queueTimeoutMs: o.queueTimeoutMs }, breaker);
    this.llm = o.llm;
    this.model = o.model;
  }

  async post(endpoint: string, body: Buffer, _headers: Record<string, string>, signal: AbortSignal): Promise<UpstreamResponse> {
    if (endpoint !== 'chat/completions') {
      return jsonResponse(404, errorBody(404, `the local model ${this.model} serves /v1/chat/completions only, not /v1/${endpoint}`, 'unsupported_endpoint'));
    }
    let raw: unknown;
    try {
      raw = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return jsonResponse(400, errorBody(400, `the request body is not JSON: ${(e as Error).message}`, 'invalid_json'));
    }
    const parsed = chatRequestSchema.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const unsupported = first?.code === 'unrecognized_keys' && first.path.length === 0 ? ` (the local model ${this.model} does not support: ${first.keys.join(', ')})` : '';
      return jsonResponse(400, errorBody(400, `invalid chat completion request: ${describeIssues(parsed.error.issues, '')}${unsupported}`, 'invalid_request', first ? String(first.path.join('.')) : undefined));
    }
    const req = parsed.data;
    const messages: ChatMessage[] = req.messages.map((m) => ({
      role: m.role === 'developer' ? 'system' : m.role,
      content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join(''),
    }));
    const stop = new AbortController();
    const options: ChatOptions = { signal: AbortSignal.any([signal, stop.signal]) };
    const maxTokens = req.max_completion_tokens ?? req.max_tokens;
    if (maxTokens != null) options.maxTokens = maxTokens;
    // OpenAI's default temperature is 1 (sampling), not the greedy decoding a local runtime defaults to
    options.temperature = req.temperature ?? 1;
    if (req.response_format?.type === 'json_schema') options.responseSchema = { name: req.response_format.json_schema.name, schema: req.response_format.json_schema.schema };
    return req.stream ? this.streamed(req, messages, options, stop) : this.whole(messages, options);
  }

  private async whole(messages: ChatMessage[], options: ChatOptions): Promise<UpstreamResponse> {
    try {
      const res = await this.llm.chat(messages, options);
      const usage = res.usage ?? { promptTokens: 0, completionTokens: 0 };
      const body = Buffer.from(JSON.stringify({
        id: `chatcmpl-${randomUUID()}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: this.model,
        choices: [{ index: 0, message: { role: 'assistant', content: res.text }, finish_reason: res.finishReason ?? 'stop', logprobs: null }],
        usage: openAiUsage(usage),
      }));
      return jsonResponse(200, body);
    } catch (e) {
      if (options.signal?.aborted) throw e;
      return this.failure(e);
    }
  }

  /**
   * The SSE response starts once the model produced its first piece (so an error before that is an
   * HTTP error status, as from a remote server); a failure after it is an error event and no [DONE].
   */
  private async streamed(req: ChatRequest, messages: ChatMessage[], options: ChatOptions, stop: AbortController): Promise<UpstreamResponse> {
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: this.model, choices, ...extra })}\n\n`;
    const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
      frame([{ index: 0, delta, finish_reason: finish, logprobs: null }], extra);
    let finish: FinishInfo = {};
    const iterator = this.llm.stream(messages, { ...options, onFinish: (info) => { finish = info; } })[Symbol.asyncIterator]();
    let first: IteratorResult<string>;
    try {
      first = await iterator.next();
    } catch (e) {
      if (options.signal?.aborted) throw e;
      return this.failure(e);
    }
    let pieces = 0;
    const out = new Readable({
      read() { /* pushed below */ },
      destroy(err, cb) {
        stop.abort(err ?? new Error('the response body was closed'));
        cb(err);
      },
    });
    const include = req.stream_options?.include_usage === true;
    const pump = async () => {
      out.push(chunk({ role: 'assistant', content: '' }, null));
      let next = first;
      try {
        while (!next.done) {
          pieces++;
          out.push(chunk({ content: next.value }, null));
          next = await iterator.next();
        }
        const usage = openAiUsage(finish.usage ?? { promptTokens: 0, completionTokens: pieces });
        // usage rides on the last chunk too (as vLLM's continuous usage does), so the gateway's token metrics are exact
        out.push(chunk({}, finish.finishReason ?? 'stop', { usage }));
        if (include) out.push(frame([], { usage }));
        out.push('data: [DONE]\n\n');
        out.push(null);
      } catch (e) {
        if (out.destroyed) return;
        if (options.signal?.aborted) {
          // the caller gave up: end the body with the abort (a reader waiting on it must not hang)
          out.destroy(e instanceof Error ? e : new Error('the request was aborted'));
          return;
        }
        const te = findTributaryError(e) ?? toTributaryError(e);
        out.push(`data: ${JSON.stringify({ error: { message: te.message, type: 'server_error', code: te.code } })}\n\n`);
        out.push(null);
      }
    };
    void pump();
    return { statusCode: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' }, body: out };
  }

  /** An error before any output, as the HTTP status a remote server would answer. */
  private failure(e: unknown): UpstreamResponse {
    const te = findTributaryError(e) ?? toTributaryError(e);
    const status = te.code === 'LLM_REJECTED' || te.code === 'INVALID_INPUT' ? 400 : te.status >= 500 ? 503 : te.status;
    return jsonResponse(status, errorBody(status, te.message, te.code));
  }

  async check(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: `in-process model ${this.model}` };
  }

  async close(): Promise<void> {
    // the Llm belongs to whoever built it (the system closes the local model)
  }
}
