import type { Embedder } from '../ports/embedder.ts';
import { TributaryError } from '../ports/errors.ts';
import type { Llm } from '../ports/llm.ts';
import { HashingEmbedder } from '../adapters/embedder/hashing/hashing-embedder.ts';
import { OpenAiEmbedder } from '../adapters/embedder/openai/openai-embedder.ts';
import { OpenAiLlm } from '../adapters/llm/openai/openai-llm.ts';
import { InferenceGateway } from '../inference/gateway.ts';
import { InferenceLlm } from '../inference/inference-llm.ts';
import type { Config } from './config.ts';
import { embedderChoice } from './config-rules.ts';

/** Picks the embedder: explicit choice, else ONNX when a model directory is configured, else OpenAI-compatible when a base URL is, else hashing. */
export async function createEmbedder(config: Config): Promise<Embedder> {
  const choice = embedderChoice(config);
  switch (choice) {
    case 'hashing':
      return new HashingEmbedder({ dimension: config.hashingDimension });
    case 'openai': {
      const e = new OpenAiEmbedder({
        baseUrl: config.embedBaseUrl ?? 'https://api.openai.com/v1',
        apiKey: config.embedApiKey,
        model: config.embedModel!,
        dimension: config.embedDimension,
        maxBatch: config.embedMaxBatch,
        timeoutMs: 30_000,
        maxRetries: 3,
        retryBaseMs: config.retryBaseMs,
        retryMaxMs: config.retryMaxMs,
      });
      if (!e.capabilities.dimension) {
        throw new TributaryError('INVALID_CONFIG', `the vector size of embedding model "${config.embedModel}" is not known: set TRIBUTARY_EMBED_DIMENSION (e.g. 384, 768, 1024)`);
      }
      return e;
    }
    case 'onnx': {
      const { OnnxEmbedder } = await import('../adapters/embedder/onnx/onnx-embedder.ts');
      const e = new OnnxEmbedder({ modelDir: config.onnxModelDir!, maxBatch: config.embedMaxBatch });
      await e.load();
      return e;
    }
  }
}

/**
 * The inference proxy core for this configuration, or null when no upstream is configured. The
 * system builds one and owns it: the API's proxy routes and the RAG LLM (TRIBUTARY_LLM_UPSTREAM)
 * share it, and so share its concurrency caps, queues and circuit breakers. Building it does no I/O;
 * the system starts its health checks and closes it.
 */
export function createInferenceGateway(config: Config): InferenceGateway | null {
  if (config.inferenceUpstreams.length === 0) return null;
  return new InferenceGateway({
    upstreams: config.inferenceUpstreams,
    timeouts: { connectMs: config.inferenceConnectTimeoutMs, firstByteMs: config.inferenceFirstByteTimeoutMs, idleMs: config.inferenceIdleTimeoutMs },
    maxAttempts: config.inferenceMaxAttempts,
    breaker: { failureThreshold: config.inferenceEjectAfterFailures, openMs: config.inferenceEjectMs, maxOpenMs: config.inferenceEjectMaxMs },
    healthIntervalMs: config.inferenceHealthIntervalMs,
  });
}

/** The RAG LLM: through the system's inference gateway (TRIBUTARY_LLM_UPSTREAM), an OpenAI-compatible endpoint, or none. */
export function createLlm(config: Config, gateway: InferenceGateway | null): Llm | null {
  if (config.llmUpstream) {
    if (!gateway) throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_LLM_UPSTREAM needs TRIBUTARY_INFERENCE_UPSTREAMS');
    return new InferenceLlm({ gateway, model: config.llmUpstream, contextTokens: config.llmContextTokens });
  }
  if (!config.llmBaseUrl || !config.llmModel) return null;
  return new OpenAiLlm({
    baseUrl: config.llmBaseUrl,
    apiKey: config.llmApiKey,
    model: config.llmModel,
    contextTokens: config.llmContextTokens,
    timeoutMs: 60_000,
    maxRetries: 2,
    retryBaseMs: config.retryBaseMs,
    retryMaxMs: config.retryMaxMs,
  });
}
