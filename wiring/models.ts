import { PriorityEmbedder } from '../adapters/embedder/priority-embedder.ts';
import type { Embedder } from '../ports/embedder.ts';
import { TributaryError } from '../ports/errors.ts';
import type { Llm } from '../ports/llm.ts';
import { HashingEmbedder } from '../adapters/embedder/hashing/hashing-embedder.ts';
import { OpenAiEmbedder } from '../adapters/embedder/openai/openai-embedder.ts';
import { OpenAiLlm } from '../adapters/llm/openai/openai-llm.ts';
import type { ModelsInfo } from '../api/context.ts';
import type { LlamaCppLlm } from '../adapters/llm/llama-cpp/llama-cpp-llm.ts';
import { InferenceGateway } from '../inference/gateway.ts';
import { InferenceLlm } from '../inference/inference-llm.ts';
import { LocalUpstream } from '../inference/local-upstream.ts';
import type { Config } from './config.ts';
import { embedderChoice, llmChoice, localLlmGguf, localLlmModelId, modelsDirOf, onnxModelDirOf } from './model-choice.ts';

/** Picks the embedder: explicit choice, else ONNX when a model directory is configured, else OpenAI-compatible when a base URL is, else hashing. */
/** Texts per call to a local model for batch work: a query waits at most for one such piece (~80–160 ms for MiniLM on 2 cores). */
const LOCAL_PIECE_TEXTS = 8;
/** Calls in flight to a remote embedder, for queries and for batch work separately. */
const REMOTE_QUERY_CONCURRENCY = 4;
const REMOTE_BATCH_CONCURRENCY = 4;

/**
 * What an embedder instance serves: `queries` (the API thread's, when the pipeline runs in threads of
 * its own: one text at a time, so a local model runs on the calling thread alone, with no pool of
 * intra-op threads to spin on the cores the pipeline needs), `pipeline` (a pipeline thread's or
 * process's) or `both` (one instance for everything, the pipeline on the API's thread).
 */
export type EmbedderRole = 'queries' | 'pipeline' | 'both';

export async function createEmbedder(config: Config, role: EmbedderRole = 'both'): Promise<Embedder> {
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
      // a remote endpoint: queries get connections of their own, never queued behind batch work
      return new PriorityEmbedder(e, { shared: false, pieceSize: config.embedPieceTexts ?? config.embedMaxBatch, queryConcurrency: REMOTE_QUERY_CONCURRENCY, batchConcurrency: REMOTE_BATCH_CONCURRENCY });
    }
    case 'onnx': {
      const { OnnxEmbedder } = await import('../adapters/embedder/onnx/onnx-embedder.ts');
      const e = new OnnxEmbedder({ modelDir: onnxModelDirOf(config)!, maxBatch: config.embedMaxBatch, ...(role === 'queries' ? { threads: 1 } : {}) });
      await e.load();
      // one model on this machine's cores: one call at a time, a waiting query before the next batch piece
      return new PriorityEmbedder(e, { shared: true, pieceSize: config.embedPieceTexts ?? LOCAL_PIECE_TEXTS, queryConcurrency: 1, batchConcurrency: 1 });
    }
  }
}

export interface LanguageModels {
  /** The inference proxy core, or null with neither remote upstreams nor a local model. */
  gateway: InferenceGateway | null;
  /** The RAG LLM, or null (answers are extractive). */
  llm: Llm | null;
  /** The local model, when one is loaded (served by the gateway under its model id). */
  local: LlamaCppLlm | null;
}

/**
 * The local LLM (TRIBUTARY_LLM_GGUF or a pulled model), the inference gateway (remote upstreams plus
 * the local model as an in-process upstream) and the RAG LLM. The RAG LLM goes through the gateway
 * whenever it can — a named upstream model (TRIBUTARY_LLM_UPSTREAM), or the local model — so RAG and
 * the proxy's clients share one queue, one set of caps and one set of metrics per model. Loading the
 * local model is the only I/O here; `closers` gets everything that needs closing. The system starts
 * the gateway's health checks.
 */
export async function openLanguageModels(config: Config, closers: Array<() => Promise<void> | void>): Promise<LanguageModels> {
  const gguf = localLlmGguf(config);
  let local: LlamaCppLlm | null = null;
  if (gguf) {
    const { LlamaCppLlm } = await import('../adapters/llm/llama-cpp/llama-cpp-llm.ts');
    local = new LlamaCppLlm({
      modelPath: gguf,
      modelId: localLlmModelId(config) ?? undefined,
      contextTokens: config.llmContextTokens,
      threads: config.llmThreads,
      concurrency: config.llmConcurrency,
      gpu: config.llmGpu,
    });
    const loaded = local;
    closers.push(() => loaded.close());
    await local.load();
  }
  const gateway = createInferenceGateway(config, local);
  if (gateway) closers.push(() => gateway.close());
  return { gateway, llm: createLlm(config, gateway, local), local };
}

/** The local model's answer budget unless TRIBUTARY_LLM_ANSWER_TOKENS says otherwise: a small model rambles and loops past it. */
const LOCAL_ANSWER_TOKENS = 384;

/**
 * The context RAG budgets its prompts in: prompts are counted with gpt-tokenizer (o200k), and a
 * local model's own tokenizer can need more tokens for the same text (SmolLM2: +12 % on the demo
 * corpus), so RAG plans within 80 % of the real context. The model still refuses a prompt that does
 * not fit (LLM_REJECTED), never cuts one.
 */
function localPromptBudget(local: LlamaCppLlm): number {
  return Math.floor(local.contextTokens * 0.8);
}

/** Queue of the local model: generations take seconds, so waiting callers get a longer time limit than a GPU server's. */
const LOCAL_MAX_QUEUE = 64;
const LOCAL_QUEUE_TIMEOUT_MS = 120_000;

/**
 * The inference proxy core for this configuration, or null when there is nothing to serve. The
 * system builds one and owns it: the API's proxy routes and the RAG LLM share it, and so share its
 * concurrency caps, queues and circuit breakers. Building it does no I/O.
 */
export function createInferenceGateway(config: Config, local: LlamaCppLlm | null = null): InferenceGateway | null {
  if (config.inferenceUpstreams.length === 0 && !local) return null;
  const breaker = { failureThreshold: config.inferenceEjectAfterFailures, openMs: config.inferenceEjectMs, maxOpenMs: config.inferenceEjectMaxMs };
  return new InferenceGateway({
    upstreams: config.inferenceUpstreams,
    localUpstreams: local ? [new LocalUpstream({
      name: 'local', model: local.modelId, llm: local, maxConcurrency: config.llmConcurrency, maxQueue: LOCAL_MAX_QUEUE, queueTimeoutMs: LOCAL_QUEUE_TIMEOUT_MS,
    }, breaker)] : [],
    timeouts: { connectMs: config.inferenceConnectTimeoutMs, firstByteMs: config.inferenceFirstByteTimeoutMs, idleMs: config.inferenceIdleTimeoutMs },
    maxAttempts: config.inferenceMaxAttempts,
    breaker,
    healthIntervalMs: config.inferenceHealthIntervalMs,
  });
}

/** The RAG LLM: a gateway model (TRIBUTARY_LLM_UPSTREAM), an OpenAI-compatible endpoint, the local model (through the gateway), or none. */
export function createLlm(config: Config, gateway: InferenceGateway | null, local: LlamaCppLlm | null = null): Llm | null {
  if (config.llmUpstream) {
    if (!gateway) throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_LLM_UPSTREAM needs TRIBUTARY_INFERENCE_UPSTREAMS or a local model (TRIBUTARY_LLM_GGUF)');
    return throughGateway(config, gateway, config.llmUpstream, local);
  }
  if (config.llmBaseUrl && config.llmModel) {
    return new OpenAiLlm({
      baseUrl: config.llmBaseUrl,
      apiKey: config.llmApiKey,
      model: config.llmModel,
      contextTokens: config.llmContextTokens,
      answerTokens: config.llmAnswerTokens,
      timeoutMs: 60_000,
      maxRetries: 2,
      retryBaseMs: config.retryBaseMs,
      retryMaxMs: config.retryMaxMs,
    });
  }
  if (local && gateway) return throughGateway(config, gateway, local.modelId, local, local.id);
  return null;
}

/** The RAG LLM on one gateway model; the local model gets its prompt budget, answer budget and schema enforcement. */
function throughGateway(config: Config, gateway: InferenceGateway, model: string, local: LlamaCppLlm | null, id?: string): InferenceLlm {
  const isLocal = local !== null && model === local.modelId;
  return new InferenceLlm({
    gateway, model, contextTokens: isLocal ? localPromptBudget(local) : config.llmContextTokens,
    answerTokens: config.llmAnswerTokens ?? (isLocal ? LOCAL_ANSWER_TOKENS : undefined), structuredOutput: isLocal, ...(id ? { id } : {}),
  });
}

/** What the banner and /readyz say about the models in use. */
export function describeModels(config: Config, embedder: Embedder, models: LanguageModels): ModelsInfo {
  const choice = embedderChoice(config);
  const embedderSource = choice === 'onnx'
    ? (config.onnxModelDir ? `TRIBUTARY_ONNX_MODEL_DIR=${config.onnxModelDir}` : `pulled into ${modelsDirOf(config)} (tributary models pull minilm)`)
    : choice === 'openai' ? `TRIBUTARY_EMBED_BASE_URL=${config.embedBaseUrl ?? 'https://api.openai.com/v1'}` : 'no embedding model configured or pulled: hashing (lexical) vectors';
  const embedderInfo = { id: embedder.id, kind: choice, dimension: embedder.capabilities.dimension ?? 0, source: embedderSource };
  const choiceLlm = llmChoice(config);
  const { llm, local } = models;
  if (!llm) {
    return { embedder: embedderInfo, llm: { id: null, kind: 'none', source: 'no LLM configured or pulled (TRIBUTARY_LLM_GGUF, `tributary models pull smollm2`, TRIBUTARY_LLM_BASE_URL or TRIBUTARY_LLM_UPSTREAM)' }, answers: 'extractive' };
  }
  const source = choiceLlm === 'upstream' ? `TRIBUTARY_LLM_UPSTREAM=${config.llmUpstream} (through the inference gateway)`
    : choiceLlm === 'openai' ? `TRIBUTARY_LLM_BASE_URL=${config.llmBaseUrl}`
    : config.llmGguf ? `TRIBUTARY_LLM_GGUF=${config.llmGguf}` : `pulled into ${modelsDirOf(config)} (tributary models pull smollm2)`;
  const viaLocal = local !== null && (choiceLlm === 'local' || config.llmUpstream === local.modelId);
  const kind = viaLocal ? 'local' : choiceLlm === 'openai' ? 'openai' : 'upstream';
  return { embedder: embedderInfo, llm: { id: llm.id, kind, source, ...(kind === 'local' && local?.info ? { local: local.info } : {}) }, answers: 'llm' };
}
