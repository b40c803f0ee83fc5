export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A JSON Schema (draft 2020-12 subset: type, properties, required, enum, const, items, anyOf, nullable types). */
export type JsonSchema = { [key: string]: unknown };

export interface ChatOptions {
  maxTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
  /**
   * Ask for one JSON value matching this schema. A local model enforces it while decoding; a remote
   * one receives it as OpenAI's `response_format: {type: "json_schema"}`. Callers still validate the reply.
   */
  responseSchema?: { name: string; schema: JsonSchema };
  /**
   * interactive (the default): someone waits for the reply. background: work no one waits for (the
   * judge, dataset instructions); a model with a queue of its own (the local model) serves it after
   * every interactive caller waiting. A remote server has no such queue: there it is a hint only.
   */
  priority?: 'interactive' | 'background';
  /** Called once when a stream (or chat) ends normally, with what the adapter knows of the usage and why it stopped. */
  onFinish?: (info: FinishInfo) => void;
}

export interface FinishInfo {
  usage?: { promptTokens: number; completionTokens: number };
  finishReason?: 'stop' | 'length';
}

export interface ChatResult {
  text: string;
  usage?: { promptTokens: number; completionTokens: number };
  /** Why generation stopped: 'stop' (the model ended its answer) or 'length' (maxTokens or the context ran out). */
  finishReason?: 'stop' | 'length';
}

export interface Llm {
  readonly id: string;
  /** Context window in tokens, used to budget prompts. */
  readonly contextTokens: number;
  /** Tokens a RAG answer may take (the prompt budget keeps them free); default min(1024, contextTokens / 4). */
  readonly answerTokens?: number;
  /**
   * The model enforces `ChatOptions.responseSchema` while decoding (a grammar). Callers send a schema
   * only to such a model: a remote server without structured outputs would refuse the request.
   */
  readonly structuredOutput?: boolean;
  chat(messages: ChatMessage[], options?: ChatOptions): Promise<ChatResult>;
  /** Streams text deltas; throws (never ends silently) if the upstream fails mid-stream. */
  stream(messages: ChatMessage[], options?: ChatOptions): AsyncIterable<string>;
}
