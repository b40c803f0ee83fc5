import type OpenAI from 'openai';
import { TributaryError } from '../../../ports/errors.ts';
import type { ChatMessage, ChatOptions, ChatResult, FinishInfo, Llm } from '../../../ports/llm.ts';
import { createOpenAiClient } from '../../openai-compatible/openai-client.ts';
import { withRetries, type RetryPolicy } from '../../openai-compatible/retry.ts';
import { abortedError, toUpstreamError } from '../../openai-compatible/upstream-error.ts';

type ChatParams = Omit<OpenAI.ChatCompletionCreateParamsNonStreaming, 'stream'>;

export interface OpenAiLlmOptions {
  /** Base URL of any OpenAI-compatible chat API (OpenAI, vLLM, TGI, Ollama, the inference proxy). */
  baseUrl: string;
  /** Omit for servers without authentication. */
  apiKey?: string | undefined;
  model: string;
  /** Context window in tokens, used to budget prompts. */
  contextTokens: number;
  /** Tokens a RAG answer may take (see Llm.answerTokens). */
  answerTokens?: number | undefined;
  /** Time limit until the response headers arrive (a stream may then run longer). */
  timeoutMs: number;
  /** Retries of a rate-limited or failed request; a stream is retried only before its first byte. */
  maxRetries: number;
  /** First retry back-off. Default 250 ms. */
  retryBaseMs?: number | undefined;
  /** Longest back-off, and the longest Retry-After honoured in-process. Default 30 s. */
  retryMaxMs?: number | undefined;
}

/**
 * Llm over the official `openai` SDK's chat completions, for any OpenAI-compatible server.
 * Errors are TributaryErrors with LLM_* codes. A stream that breaks, or ends without a
 * finish_reason, throws LLM_UNAVAILABLE: it never ends as if the answer were complete.
 */
export class OpenAiLlm implements Llm {
  readonly id: string;
  readonly contextTokens: number;
  readonly answerTokens: number | undefined;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly retry: RetryPolicy;
  private readonly what: string;

  constructor(options: OpenAiLlmOptions) {
    if (!Number.isInteger(options.contextTokens) || options.contextTokens < 1) {
      throw new TributaryError('INVALID_CONFIG', `OpenAI LLM contextTokens must be a positive integer, got ${options.contextTokens}`);
    }
    this.client = createOpenAiClient(options);
    this.model = options.model;
    this.contextTokens = options.contextTokens;
    this.answerTokens = options.answerTokens;
    this.id = `openai:${options.model}`;
    this.retry = { maxRetries: options.maxRetries, baseMs: options.retryBaseMs ?? 250, maxMs: options.retryMaxMs ?? 30_000 };
    this.what = `chat completion request to ${options.baseUrl} (model ${options.model})`;
  }

  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    const { signal } = options;
    const res = await withRetries(
      () => this.client.chat.completions.create({ ...this.params(messages, options), stream: false }, { signal }),
      this.retry,
      (e) => toUpstreamError(e, 'LLM', this.what, signal),
      signal,
    );
    const choice = res.choices?.[0];
    if (!choice) throw new TributaryError('LLM_REJECTED', `${this.what} returned no choices`, { retryable: false });
    const result: ChatResult = { text: choice.message?.content ?? '', finishReason: choice.finish_reason === 'length' ? 'length' : 'stop' };
    if (res.usage) result.usage = { promptTokens: res.usage.prompt_tokens, completionTokens: res.usage.completion_tokens };
    options.onFinish?.({ ...(result.usage ? { usage: result.usage } : {}), finishReason: result.finishReason! });
    return result;
  }

  async *stream(messages: ChatMessage[], options: ChatOptions = {}): AsyncIterable<string> {
    const { signal } = options;
    // retries happen only here, before the first byte of the answer
    const stream = await withRetries(
      () => this.client.chat.completions.create({ ...this.params(messages, options), stream: true }, { signal }),
      this.retry,
      (e) => toUpstreamError(e, 'LLM', this.what, signal),
      signal,
    );
    let finishReason: string | null = null;
    let usage: FinishInfo['usage'];
    try {
      for await (const chunk of stream) {
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
        for (const choice of chunk.choices ?? []) {
          if (choice.index !== 0) continue;
          const delta = choice.delta?.content;
          if (delta) yield delta;
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
      }
    } catch (err) {
      const mapped = toUpstreamError(err, 'LLM', `${this.what} (streaming)`, signal);
      if (mapped.code === 'SHUTTING_DOWN') throw mapped;
      throw new TributaryError(mapped.code, `${mapped.message} — the stream broke mid-way`, {
        cause: err, retryable: mapped.retryable, upstreamStatus: mapped.upstreamStatus, retryAfterMs: mapped.retryAfterMs,
      });
    }
    // the SDK ends the iteration quietly when the request is aborted: say so
    if (signal?.aborted) throw abortedError(signal);
    if (finishReason === null) {
      throw new TributaryError('LLM_UNAVAILABLE', `${this.what} (streaming) ended without a finish_reason: the upstream cut the stream`);
    }
    options.onFinish?.({ ...(usage ? { usage } : {}), finishReason: finishReason === 'length' ? 'length' : 'stop' });
  }

  private params(messages: ChatMessage[], options: ChatOptions): ChatParams {
    const p: ChatParams = {
      model: this.model,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
    };
    if (options.maxTokens !== undefined) p.max_tokens = options.maxTokens;
    if (options.temperature !== undefined) p.temperature = options.temperature;
    if (options.responseSchema) p.response_format = { type: 'json_schema', json_schema: { name: options.responseSchema.name, schema: options.responseSchema.schema } };
    return p;
  }
}
