import OpenAI from 'openai';

export interface OpenAiClientOptions {
  /** Base URL of an OpenAI-compatible API, including the version path (e.g. http://127.0.0.1:8000/v1). */
  baseUrl: string;
  /** Bearer token; omit for servers without authentication (TEI, vLLM, Ollama). */
  apiKey?: string | undefined;
  /** Per-request time limit until the response headers arrive. */
  timeoutMs: number;
}

/**
 * Builds the SDK client from validated options only. Every option the SDK would otherwise take
 * from OPENAI_* environment variables is passed explicitly (the SDK still merges
 * OPENAI_CUSTOM_HEADERS, which it offers no way to switch off). The SDK's own retries are off:
 * the adapters retry themselves (see retry.ts) so that the policy is visible and testable.
 */
export function createOpenAiClient(options: OpenAiClientOptions): OpenAI {
  const hasKey = options.apiKey !== undefined && options.apiKey !== '';
  return new OpenAI({
    baseURL: options.baseUrl,
    // the SDK refuses to start without a credential; with none configured, send no Authorization header
    apiKey: hasKey ? options.apiKey : 'no-api-key',
    defaultHeaders: hasKey ? undefined : { Authorization: null },
    adminAPIKey: null,
    organization: null,
    project: null,
    webhookSecret: null,
    timeout: options.timeoutMs,
    maxRetries: 0,
    logLevel: 'off',
  });
}
