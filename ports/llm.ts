export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatOptions {
  maxTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
}

export interface ChatResult {
  text: string;
  usage?: { promptTokens: number; completionTokens: number };
}

export interface Llm {
  readonly id: string;
  /** Context window in tokens, used to budget prompts. */
  readonly contextTokens: number;
  chat(messages: ChatMessage[], options?: ChatOptions): Promise<ChatResult>;
  /** Streams text deltas; throws (never ends silently) if the upstream fails mid-stream. */
  stream(messages: ChatMessage[], options?: ChatOptions): AsyncIterable<string>;
}
