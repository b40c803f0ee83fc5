import type { ChatMessage, ChatOptions, ChatResult, Llm } from '../../ports/llm.ts';

/**
 * A test double that implements the Llm port and records every call. `reply` decides the text for
 * each call (by looking at the messages); `stream` yields that text in pieces, optionally failing
 * after a number of pieces or waiting for the abort signal.
 */
export interface RecordedCall {
  kind: 'chat' | 'stream';
  messages: ChatMessage[];
  options: ChatOptions | undefined;
}

export interface RecordingLlmOptions {
  reply: (messages: ChatMessage[]) => string;
  contextTokens?: number;
  /** Stream: throw this after `failAfterPieces` pieces. */
  streamError?: Error;
  failAfterPieces?: number;
  /** Stream: after this many pieces, wait until the call's signal aborts (then throw it). */
  hangAfterPieces?: number;
}

export class RecordingLlm implements Llm {
  readonly id = 'recording-llm';
  readonly contextTokens: number;
  readonly calls: RecordedCall[] = [];
  /** Resolves when a streaming call saw its signal abort. */
  readonly aborted: Promise<void>;
  private resolveAborted!: () => void;
  private readonly o: RecordingLlmOptions;

  constructor(o: RecordingLlmOptions) {
    this.o = o;
    this.contextTokens = o.contextTokens ?? 4096;
    this.aborted = new Promise((r) => { this.resolveAborted = r; });
  }

  async chat(messages: ChatMessage[], options?: ChatOptions): Promise<ChatResult> {
    this.calls.push({ kind: 'chat', messages, options });
    return { text: this.o.reply(messages), usage: { promptTokens: 1, completionTokens: 1 } };
  }

  async *stream(messages: ChatMessage[], options?: ChatOptions): AsyncIterable<string> {
    this.calls.push({ kind: 'stream', messages, options });
    const text = this.o.reply(messages);
    const pieces = text.match(/.{1,8}/gs) ?? [];
    for (const [i, piece] of pieces.entries()) {
      if (this.o.streamError && i === (this.o.failAfterPieces ?? 0)) throw this.o.streamError;
      yield piece;
      if (this.o.hangAfterPieces !== undefined && i === this.o.hangAfterPieces - 1) {
        const signal = options?.signal;
        await new Promise<void>((resolve) => {
          if (!signal) return;
          if (signal.aborted) resolve();
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.resolveAborted();
        throw signal?.reason ?? new Error('aborted');
      }
    }
  }

  /** The calls whose system prompt contains `marker`. */
  callsWith(marker: string): RecordedCall[] {
    return this.calls.filter((c) => c.messages.some((m) => m.content.includes(marker)));
  }
}
