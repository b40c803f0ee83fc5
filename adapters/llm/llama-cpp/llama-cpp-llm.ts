import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import type { ChatHistoryItem, ChatWrapper, Llama, LlamaContext, LlamaContextSequence, LlamaGrammar, LlamaModel } from 'node-llama-cpp';
import { TributaryError, findTributaryError } from '../../../ports/errors.ts';
import type { ChatMessage, ChatOptions, ChatResult, JsonSchema, Llm } from '../../../ports/llm.ts';
import { abortedError } from '../../openai-compatible/upstream-error.ts';
import { toGrammarSchema } from './grammar-schema.ts';

export type LlamaGpu = 'auto' | 'cpu' | 'cuda' | 'vulkan' | 'metal';

export interface LlamaCppLlmOptions {
  /** A GGUF model file on disk. Nothing is downloaded. */
  modelPath: string;
  /** Model id (`local:<id>` is the Llm id; the proxy serves it under `<id>`). Default: the file name without .gguf. */
  modelId?: string | undefined;
  /** Context window per generation in tokens; capped at what the model was trained on. */
  contextTokens: number;
  /** CPU threads for evaluation. Default: the machine's cores (llama.cpp's own default, 4 or more, oversubscribes small machines). */
  threads?: number | undefined;
  /** Generations at once: parallel sequences of one context, evaluated in shared batches. Default 1. */
  concurrency?: number | undefined;
  /** Default 'auto': a usable GPU, else the CPU. */
  gpu?: LlamaGpu | undefined;
}

export interface LlamaCppInfo {
  modelId: string;
  file: string;
  /** What llama.cpp computes on: 'cpu', 'cuda', 'vulkan' or 'metal'. */
  gpu: string;
  threads: number;
  contextTokens: number;
  concurrency: number;
  trainContextTokens: number;
  loadMs: number;
}

/** Repeat penalty for free text, over the last 128 generated tokens. */
const REPEAT_PENALTY = { penalty: 1.3, lastTokens: 128, frequencyPenalty: 0.2, presencePenalty: 0.2 };

type LlamaModule = typeof import('node-llama-cpp');

/**
 * The Llm port on a GGUF model run in-process by llama.cpp (node-llama-cpp's prebuilt binaries, no
 * compiler needed). The chat template comes from the model file. Output can be constrained to a JSON
 * schema (a grammar applied while decoding, so the reply always parses). Generations run on a fixed
 * pool of context sequences (`concurrency`); more callers wait in FIFO order — background callers
 * (`priority: 'background'`: the judge, dataset instructions) after every interactive one, and an
 * interactive caller that finds every sequence busy preempts a running background generation (its
 * caller gets a retryable LLM_UNAVAILABLE), so a RAG answer never waits behind them — and a caller
 * that aborts while waiting leaves the queue. Aborting a running generation stops decoding at once.
 *
 * `load()` does the I/O (binaries, weights, context); until then no method may be called.
 */
export class LlamaCppLlm implements Llm {
  readonly id: string;
  readonly modelId: string;
  readonly structuredOutput = true;
  private readonly o: Required<Omit<LlamaCppLlmOptions, 'modelId'>>;
  private mod: LlamaModule | undefined;
  private llama: Llama | undefined;
  private model: LlamaModel | undefined;
  private context: LlamaContext | undefined;
  /** The chat template, resolved once (resolving it per call blocks the event loop for ~150 ms). */
  private chatWrapper: ChatWrapper | undefined;
  private free: LlamaContextSequence[] = [];
  private readonly waiters: Array<{ resolve: (s: LlamaContextSequence) => void; reject: (e: unknown) => void; signal: AbortSignal | undefined; onAbort: () => void; background: boolean }> = [];
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  private loaded: LlamaCppInfo | undefined;
  private tokensGenerated = 0;
  private running = 0;
  /** Background generations running now, oldest first: an interactive caller that finds no free sequence preempts one. */
  private readonly background: AbortController[] = [];
  private closed = false;

  constructor(options: LlamaCppLlmOptions) {
    const modelPath = resolve(options.modelPath);
    const threads = options.threads ?? availableParallelism();
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(options.contextTokens) || options.contextTokens < 64) {
      throw new TributaryError('INVALID_CONFIG', `local LLM contextTokens must be an integer of at least 64, got ${options.contextTokens}`);
    }
    if (!Number.isInteger(threads) || threads < 1) throw new TributaryError('INVALID_CONFIG', `local LLM threads must be a positive integer, got ${threads}`);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TributaryError('INVALID_CONFIG', `local LLM concurrency must be a positive integer, got ${concurrency}`);
    this.modelId = options.modelId ?? basename(modelPath).replace(/\.gguf$/i, '');
    this.id = `local:${this.modelId}`;
    this.o = { modelPath, contextTokens: options.contextTokens, threads, concurrency, gpu: options.gpu ?? 'auto' };
  }

  /** The context window per generation (known after `load()`; the configured value before). */
  get contextTokens(): number {
    return this.loaded?.contextTokens ?? this.o.contextTokens;
  }

  /** What was loaded, where it computes and how (for start-up logs and /readyz); null before `load()`. */
  get info(): LlamaCppInfo | null {
    return this.loaded ?? null;
  }

  /** Loads llama.cpp, the weights and one context with `concurrency` sequences. Idempotent. */
  async load(): Promise<LlamaCppInfo> {
    if (this.loaded) return this.loaded;
    this.closed = false;
    const started = performance.now();
    const file = this.o.modelPath;
    if (!existsSync(file)) {
      throw new TributaryError('MODEL_LOAD_FAILED', `no GGUF model file at ${file}: set TRIBUTARY_LLM_GGUF to a .gguf file, or run \`npx tributary models pull smollm2\``);
    }
    try {
      this.mod = await import('node-llama-cpp');
      this.llama = await this.mod.getLlama({
        gpu: this.o.gpu === 'cpu' ? false : this.o.gpu,
        maxThreads: this.o.threads,
        // never compile llama.cpp at run time: the prebuilt binaries in the npm packages or an error
        build: 'never',
        logLevel: this.mod.LlamaLogLevel.error,
      });
      this.model = await this.llama.loadModel({ modelPath: file });
      const contextSize = Math.min(this.o.contextTokens, this.model.trainContextSize);
      this.context = await this.model.createContext({ contextSize, sequences: this.o.concurrency, threads: this.o.threads });
      this.chatWrapper = this.mod.resolveChatWrapper(this.model);
    } catch (e) {
      await this.close();
      throw new TributaryError('MODEL_LOAD_FAILED', `could not load the local LLM from ${file}: ${(e as Error).message} — point TRIBUTARY_LLM_GGUF at another GGUF file, or set TRIBUTARY_LLM_GGUF=off to run without a local LLM`, { cause: e });
    }
    for (let i = 0; i < this.o.concurrency; i++) this.free.push(this.context.getSequence());
    this.loaded = {
      modelId: this.modelId,
      file,
      gpu: this.llama.gpu === false ? 'cpu' : this.llama.gpu,
      threads: this.o.threads,
      contextTokens: this.context.contextSize,
      concurrency: this.o.concurrency,
      trainContextTokens: this.model.trainContextSize,
      loadMs: Math.round(performance.now() - started),
    };
    return this.loaded;
  }

  /** Tokens generated since load (aborted generations included), and generations running now. */
  get stats(): { tokensGenerated: number; running: number; waiting: number } {
    return { tokensGenerated: this.tokensGenerated, running: this.running, waiting: this.waiters.length };
  }

  /** Tokens of the prompt as the model will see it: the chat template rendered around the messages, up to where the answer starts. */
  private promptTokens(history: ChatHistoryItem[]): number {
    const state = this.chatWrapper!.generateContextState({ chatHistory: [...history, { type: 'model', response: [] }] });
    return state.contextText.tokenize(this.requireModel().tokenizer).length;
  }

  /** Tokens of `text` under the model's own tokenizer. */
  countTokens(text: string): number {
    return this.requireModel().tokenize(text).length;
  }

  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    let text = '';
    const result = await this.generate(messages, options, (t) => { text += t; });
    return { text, usage: result.usage, finishReason: result.finishReason };
  }

  async *stream(messages: ChatMessage[], options: ChatOptions = {}): AsyncIterable<string> {
    // the generation pushes text pieces; this generator hands them out as they come. Leaving the loop
    // early (break, or the consumer's own abort) stops the generation.
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const queue: string[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    let failure: unknown = null;
    const run = this.generate(messages, { ...options, signal }, (t) => {
      queue.push(t);
      wake?.();
    }).then(
      () => { done = true; wake?.(); },
      (e: unknown) => { failure = e; done = true; wake?.(); },
    );
    try {
      for (;;) {
        // nothing more after an abort, even pieces already decoded
        if (options.signal?.aborted) throw abortedError(options.signal);
        if (queue.length > 0) {
          yield queue.shift()!;
          continue;
        }
        if (done) break;
        await new Promise<void>((r) => { wake = r; });
        wake = null;
      }
      if (failure) {
        if (options.signal?.aborted) throw abortedError(options.signal, failure);
        throw failure;
      }
    } finally {
      if (!done) stop.abort(new TributaryError('SHUTTING_DOWN', 'the stream consumer stopped reading'));
      await run;
    }
  }

  /** Runs one generation on a free sequence; `onText` gets each decoded piece. */
  private async generate(messages: ChatMessage[], options: ChatOptions, onText: (t: string) => void): Promise<{ usage: NonNullable<ChatResult['usage']>; finishReason: 'stop' | 'length' }> {
    const { signal } = options;
    if (this.closed) throw new TributaryError('SHUTTING_DOWN', 'the local LLM is closed');
    const mod = this.requireMod();
    if (messages.length === 0) throw new TributaryError('INVALID_INPUT', 'a chat needs at least one message');
    const history = toHistory(messages);
    const promptTokens = this.promptTokens(history);
    const ctx = this.contextTokens;
    const maxTokens = Math.max(1, Math.min(options.maxTokens ?? ctx - promptTokens, ctx - promptTokens));
    if (promptTokens + 1 > ctx) {
      throw new TributaryError('LLM_REJECTED', `the prompt is about ${promptTokens} tokens and the local model ${this.modelId} holds ${ctx} (TRIBUTARY_LLM_CONTEXT_TOKENS, at most the ${this.loaded?.trainContextTokens} it was trained on): shorten it`, { retryable: false });
    }
    const grammar = options.responseSchema ? await this.grammarFor(toGrammarSchema(options.responseSchema.schema)) : undefined;
    const isBackground = options.priority === 'background';
    const sequence = await this.acquire(signal, isBackground);
    const preempt = isBackground ? new AbortController() : null;
    if (preempt) this.background.push(preempt);
    const genSignal = preempt ? (signal ? AbortSignal.any([signal, preempt.signal]) : preempt.signal) : signal;
    let completionTokens = 0;
    let chat: InstanceType<LlamaModule['LlamaChat']> | undefined;
    this.running++;
    try {
      chat = new mod.LlamaChat({ contextSequence: sequence, autoDisposeSequence: false, chatWrapper: this.chatWrapper! });
      const res = await chat.generateResponse(history, {
        maxTokens,
        ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
        // free text: a repeat penalty keeps a small model from looping on one phrase (measured on
        // SmolLM2-135M: without it, RAG answers loop to the token limit; the DRY sampler was 2-3x slower
        // and still looped on numbered lists)
        ...(grammar ? { grammar } : { repeatPenalty: REPEAT_PENALTY }),
        ...(genSignal ? { signal: genSignal } : {}),
        onTextChunk: onText,
        onToken: (tokens) => { completionTokens += tokens.length; this.tokensGenerated += tokens.length; },
      });
      const finishReason = res.metadata.stopReason === 'maxTokens' ? 'length' : 'stop';
      const usage = { promptTokens, completionTokens };
      options.onFinish?.({ usage, finishReason });
      return { usage, finishReason };
    } catch (e) {
      if (signal?.aborted) throw abortedError(signal, e);
      if (preempt?.signal.aborted) throw preempt.signal.reason as TributaryError;
      if (this.closed) throw new TributaryError('SHUTTING_DOWN', 'the local LLM was closed during the generation', { cause: e });
      const te = findTributaryError(e);
      if (te) throw te;
      throw new TributaryError('LLM_UNAVAILABLE', `local model ${this.modelId} failed to generate: ${(e as Error).message}`, { cause: e, retryable: false });
    } finally {
      // the sequence keeps its evaluated tokens: the next prompt that starts the same way (the same
      // system prompt) reuses them instead of evaluating them again
      chat?.dispose({ disposeSequence: false });
      if (preempt) this.background.splice(this.background.indexOf(preempt), 1);
      this.running--;
      this.release(sequence);
    }
  }

  private grammarFor(schema: JsonSchema): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let g = this.grammars.get(key);
    if (!g) {
      g = (async () => {
        try {
          return await this.requireLlama().createGrammarForJsonSchema(schema as Parameters<Llama['createGrammarForJsonSchema']>[0]);
        } catch (e) {
          throw new TributaryError('INVALID_INPUT', `the response JSON schema cannot be enforced by the local model: ${(e as Error).message}`, { cause: e });
        }
      })();
      g.catch(() => this.grammars.delete(key));
      if (this.grammars.size >= 64) this.grammars.delete(this.grammars.keys().next().value!);
      this.grammars.set(key, g);
    }
    return g;
  }

  /** A free sequence, or a place in the queue: interactive callers first, each kind in FIFO order. */
  private acquire(signal: AbortSignal | undefined, background: boolean): Promise<LlamaContextSequence> {
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    // someone is waiting for this answer: the oldest background generation gives its sequence up (its
    // caller gets a retryable error and asks again later), unless another interactive caller already took it
    const preemptable = this.background.length - this.waiters.filter((w) => !w.background).length;
    if (!background && preemptable > 0) {
      const victim = this.background.find((c) => !c.signal.aborted);
      victim?.abort(new TributaryError('LLM_UNAVAILABLE', `the local model ${this.modelId} was needed for an interactive request: this background generation gave way and can be asked again`, { retryable: true, retryAfterMs: 1000 }));
    }
    return new Promise((resolvePromise, reject) => {
      const waiter = {
        resolve: resolvePromise,
        reject,
        signal,
        background,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(abortedError(signal));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(sequence: LlamaContextSequence): void {
    const i = this.waiters.findIndex((w) => !w.background);
    const next = this.waiters.splice(i >= 0 ? i : 0, 1)[0];
    if (!next) {
      this.free.push(sequence);
      return;
    }
    next.signal?.removeEventListener('abort', next.onAbort);
    next.resolve(sequence);
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new TributaryError('SHUTTING_DOWN', 'the local LLM is closing');
    for (const w of this.waiters.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(err);
    }
    this.free = [];
    await this.context?.dispose().catch(() => undefined);
    await this.model?.dispose().catch(() => undefined);
    await this.llama?.dispose().catch(() => undefined);
    this.context = undefined;
    this.chatWrapper = undefined;
    this.model = undefined;
    this.llama = undefined;
  }

  private requireMod(): LlamaModule {
    if (!this.mod || !this.model) throw new TributaryError('INTERNAL', 'LlamaCppLlm used before load()');
    return this.mod;
  }

  private requireModel(): LlamaModel {
    if (!this.model) throw new TributaryError('INTERNAL', 'LlamaCppLlm used before load()');
    return this.model;
  }

  private requireLlama(): Llama {
    if (!this.llama) throw new TributaryError('INTERNAL', 'LlamaCppLlm used before load()');
    return this.llama;
  }
}

function toHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  return messages.map((m): ChatHistoryItem => {
    if (m.role === 'system') return { type: 'system', text: m.content };
    if (m.role === 'user') return { type: 'user', text: m.content };
    return { type: 'model', response: [m.content] };
  });
}
