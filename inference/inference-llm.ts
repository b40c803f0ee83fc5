import { StringDecoder } from 'node:string_decoder';
import { TributaryError, findTributaryError, type ErrorCode } from '../ports/errors.ts';
import type { ChatMessage, ChatOptions, ChatResult, FinishInfo, Llm } from '../ports/llm.ts';
import type { ProxyExchange } from './exchange.ts';
import type { InferenceGateway } from './gateway.ts';

export interface InferenceLlmOptions {
  gateway: InferenceGateway;
  /** A model some upstream serves. */
  model: string;
  contextTokens: number;
  /** Default `inference:<model>`. */
  id?: string;
  /** Tokens a RAG answer may take (see Llm.answerTokens). */
  answerTokens?: number | undefined;
  /** The model behind the gateway enforces response schemas (see Llm.structuredOutput): true for the local model. */
  structuredOutput?: boolean;
}

/**
 * The RAG LLM through the proxy core, in-process: the same routing, concurrency caps, queue,
 * failover and ejection as the proxy's clients get, without an HTTP hop to itself. Failover happens
 * in the gateway (before the first byte); this class does not retry on top of it.
 */
export class InferenceLlm implements Llm {
  readonly id: string;
  readonly contextTokens: number;
  readonly answerTokens: number | undefined;
  readonly structuredOutput: boolean;
  private readonly gateway: InferenceGateway;
  private readonly model: string;

  constructor(o: InferenceLlmOptions) {
    this.gateway = o.gateway;
    this.model = o.model;
    this.contextTokens = o.contextTokens;
    this.answerTokens = o.answerTokens;
    this.structuredOutput = o.structuredOutput ?? false;
    this.id = o.id ?? `inference:${o.model}`;
  }

  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    const ex = await this.send(messages, options, false);
    let text: string;
    try {
      text = await ex.text();
    } catch (e) {
      throw this.mapError(e, options.signal);
    }
    if (ex.statusCode >= 300) throw statusError(ex.statusCode, text, this.model);
    let res: { choices?: Array<{ message?: { content?: string | null }; finish_reason?: string | null }>; usage?: { prompt_tokens?: number; completion_tokens?: number } };
    try {
      res = JSON.parse(text) as typeof res;
    } catch {
      throw new TributaryError('LLM_REJECTED', `chat completion from the inference proxy (model ${this.model}) is not JSON`, { retryable: false });
    }
    const choice = res.choices?.[0];
    if (!choice) throw new TributaryError('LLM_REJECTED', `chat completion (model ${this.model}) returned no choices`, { retryable: false });
    const out: ChatResult = { text: choice.message?.content ?? '' };
    if (res.usage) out.usage = { promptTokens: res.usage.prompt_tokens ?? 0, completionTokens: res.usage.completion_tokens ?? 0 };
    out.finishReason = choice.finish_reason === 'length' ? 'length' : 'stop';
    options.onFinish?.({ ...(out.usage ? { usage: out.usage } : {}), finishReason: out.finishReason });
    return out;
  }

  async *stream(messages: ChatMessage[], options: ChatOptions = {}): AsyncIterable<string> {
    const ex = await this.send(messages, options, true);
    if (ex.statusCode >= 300) {
      let text = '';
      try { text = await ex.text(); } catch { /* the status says enough */ }
      throw statusError(ex.statusCode, text, this.model);
    }
    const decoder = new StringDecoder('utf8');
    let carry = '';
    let finished: string | null = null;
    let usage: FinishInfo['usage'];
    try {
      for await (const chunk of ex.chunks()) {
        const lines = (carry + decoder.write(chunk)).split('\n');
        carry = lines.pop() ?? '';
        for (const raw of lines) {
          const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]' || data === '') continue;
          let obj: { choices?: Array<{ index?: number; delta?: { content?: string | null }; finish_reason?: string | null }>; usage?: { prompt_tokens?: number; completion_tokens?: number } | null };
          try { obj = JSON.parse(data) as typeof obj; } catch { continue; }
          if (obj.usage) usage = { promptTokens: obj.usage.prompt_tokens ?? 0, completionTokens: obj.usage.completion_tokens ?? 0 };
          for (const c of obj.choices ?? []) {
            if ((c.index ?? 0) !== 0) continue;
            if (c.delta?.content) yield c.delta.content;
            if (c.finish_reason) finished = c.finish_reason;
          }
        }
      }
    } catch (e) {
      throw this.mapError(e, options.signal);
    } finally {
      ex.discard();
    }
    if (options.signal?.aborted) throw aborted(options.signal);
    if (!finished) throw new TributaryError('LLM_UNAVAILABLE', `chat stream (model ${this.model}) ended without a finish_reason: the upstream cut the stream`);
    options.onFinish?.({ ...(usage ? { usage } : {}), finishReason: finished === 'length' ? 'length' : 'stop' });
  }

  private async send(messages: ChatMessage[], options: ChatOptions, stream: boolean): Promise<ProxyExchange> {
    const body: Record<string, unknown> = { model: this.model, messages: messages.map((m) => ({ role: m.role, content: m.content })), stream };
    if (options.maxTokens !== undefined) body['max_tokens'] = options.maxTokens;
    if (options.temperature !== undefined) body['temperature'] = options.temperature;
    if (options.responseSchema) body['response_format'] = { type: 'json_schema', json_schema: { name: options.responseSchema.name, schema: options.responseSchema.schema } };
    const signal = options.signal ?? new AbortController().signal;
    try {
      return await this.gateway.send({ endpoint: 'chat/completions', model: this.model, body: Buffer.from(JSON.stringify(body)), stream, signal });
    } catch (e) {
      throw this.mapError(e, options.signal);
    }
  }

  /** Gateway codes onto the Llm port's codes (LLM_*), keeping the cause. */
  private mapError(e: unknown, signal: AbortSignal | undefined): TributaryError {
    if (signal?.aborted) return aborted(signal);
    const te = findTributaryError(e);
    const map: Partial<Record<ErrorCode, ErrorCode>> = {
      INFERENCE_OVERLOADED: 'LLM_RATE_LIMITED',
      INFERENCE_QUEUE_TIMEOUT: 'LLM_UNAVAILABLE',
      INFERENCE_UNAVAILABLE: 'LLM_UNAVAILABLE',
      INFERENCE_STREAM_BROKEN: 'LLM_UNAVAILABLE',
      UNKNOWN_MODEL: 'INVALID_CONFIG',
    };
    if (!te) return new TributaryError('LLM_UNAVAILABLE', `inference proxy call failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    const code = map[te.code];
    if (!code) return te;
    return new TributaryError(code, te.message, { cause: te, retryAfterMs: te.retryAfterMs });
  }
}

function aborted(signal: AbortSignal): TributaryError {
  return new TributaryError('SHUTTING_DOWN', 'call aborted by the caller', { cause: signal.reason });
}

function statusError(status: number, body: string, model: string): TributaryError {
  let message = body.slice(0, 300);
  try { message = String((JSON.parse(body) as { error?: { message?: unknown } }).error?.message ?? message); } catch { /* raw text */ }
  const what = `chat completion (model ${model}) answered ${status}: ${message}`;
  if (status === 429) return new TributaryError('LLM_RATE_LIMITED', what, { upstreamStatus: status });
  if (status >= 500 || status === 408) return new TributaryError('LLM_UNAVAILABLE', what, { upstreamStatus: status });
  // the upstream refuses our key, our permissions or our model: every request alike (scope: ports/errors.ts)
  const everyRequest = status === 401 || status === 403 || status === 404;
  return new TributaryError('LLM_REJECTED', what, { upstreamStatus: status, retryable: false, ...(everyRequest ? { scope: 'batch' as const } : {}) });
}
