import type { Config } from './config.ts';
import { embedderChoice, localLlmGguf } from './model-choice.ts';

/**
 * Settings that only take effect in some configurations. A setting given (in the environment, the
 * config file or an override) where it would have no effect is refused at start-up, naming the
 * variable and what it depends on: no setting is ever silently ignored. Settings not listed here
 * apply in every configuration.
 */

interface Rule {
  keys: ReadonlyArray<keyof Config>;
  /** null: the setting applies; else why it would not. */
  check(c: Config): string | null;
}

const KAFKA_ONLY: Array<keyof Config> = ['metricsPort', 'kafkaBrokers', 'kafkaClientId', 'kafkaSessionTimeoutMs', 'kafkaRebalanceTimeoutMs', 'kafkaReplicationFactor', 'kafkaApplyTopics', 'consumers'];
/** Settings of the remote upstreams' HTTP connections. */
const REMOTE_INFERENCE_ONLY: Array<keyof Config> = ['inferenceConnectTimeoutMs', 'inferenceFirstByteTimeoutMs', 'inferenceIdleTimeoutMs', 'inferenceHealthIntervalMs'];
/** Settings of the inference gateway, which also serves the local model. */
const GATEWAY_ONLY: Array<keyof Config> = ['inferenceMaxAttempts', 'inferenceEjectAfterFailures', 'inferenceEjectMs', 'inferenceEjectMaxMs', 'inferenceAffinityHeader', 'inferenceLogPrompts'];
const LOCAL_LLM_ONLY: Array<keyof Config> = ['llmThreads', 'llmConcurrency', 'llmGpu', 'llmLocalModelId'];

/** Kafka, MongoDB and Qdrant hold everything: a process of this configuration needs no file of its own. */
export function serversHoldEverything(c: Pick<Config, 'mode' | 'mongodbUrl' | 'qdrantUrl'>): boolean {
  return c.mode === 'kafka' && c.mongodbUrl !== undefined && c.qdrantUrl !== undefined;
}

/** An LLM answers RAG questions (an OpenAI-compatible endpoint, an inference upstream, or the local model). */
export function llmConfigured(c: Config): boolean {
  return Boolean(c.llmBaseUrl || c.llmUpstream || localLlmGguf(c));
}

/** The judge consumer runs: an LLM, traces on, and a share to judge. */
export function judgeRuns(c: Config): boolean {
  return llmConfigured(c) && c.ragTraces === 'on' && c.judgeSample > 0;
}

const NO_LLM = 'an LLM is configured (TRIBUTARY_LLM_BASE_URL, TRIBUTARY_LLM_UPSTREAM or a local model: TRIBUTARY_LLM_GGUF or `tributary models pull smollm2`)';

const RULES: Rule[] = [
  {
    keys: ['pipelineThreads'],
    check: (c) => (c.mode === 'kafka' && c.consumers === 'none' ? 'applies only to an API process that runs the clean or embed consumer (TRIBUTARY_CONSUMERS is none)' : null),
  },
  {
    keys: ['pipelineNiceness'],
    check: (c) => {
      if (c.pipelineThreads === 'off') return 'applies only while the pipeline runs in threads (TRIBUTARY_PIPELINE_THREADS is off)';
      return c.mode === 'kafka' && c.consumers === 'none' ? 'applies only to an API process that runs the clean or embed consumer (TRIBUTARY_CONSUMERS is none)' : null;
    },
  },
  {
    keys: ['freshnessSloMs'],
    check: (c) => (c.freshnessProbeMs > 0 ? null : 'applies only while the freshness probe runs (TRIBUTARY_FRESHNESS_PROBE_MS is 0: off)'),
  },
  {
    keys: ['judgeSample'],
    check: (c) => {
      if (!llmConfigured(c)) return `applies only when ${NO_LLM}; without one no answer is judged`;
      return c.ragTraces === 'on' ? null : 'applies only while RAG traces are written (TRIBUTARY_RAG_TRACES is off); the judge scores traces';
    },
  },
  {
    keys: ['guardInjectionLlm'],
    check: (c) => {
      if (!llmConfigured(c)) return `applies only when ${NO_LLM}`;
      return c.guardInjection === 'off' ? 'applies only while the prompt-injection guardrail is on (TRIBUTARY_GUARD_INJECTION is off)' : null;
    },
  },
  {
    keys: ['answerCacheEntries'],
    check: (c) => (c.answerCacheTtlMs > 0 ? null : 'applies only while the answer cache is on (TRIBUTARY_ANSWER_CACHE_TTL_MS is 0: off)'),
  },
  {
    keys: KAFKA_ONLY,
    check: (c) => (c.mode === 'kafka' ? null : `applies only with TRIBUTARY_MODE=kafka (the mode is ${c.mode}); set TRIBUTARY_MODE=kafka or unset it`),
  },
  {
    // a relay runs in Kafka mode (the outbox's, or `tributary cdc`), and in embedded mode over MongoDB's change stream
    keys: ['relayPollMs'],
    check: (c) => (c.mode === 'kafka' || c.mongodbUrl ? null : 'applies only where a relay runs: TRIBUTARY_MODE=kafka, or MONGODB_URL (the embedded store writes its change events in the same transaction, with no relay)'),
  },
  {
    // with Kafka, MongoDB and Qdrant no SQLite file is opened by any process, unless the finetune trigger keeps its state
    keys: ['sqliteSync'],
    check: (c) => (serversHoldEverything(c) && c.finetuneDatasets.length === 0 ? 'no SQLite file is opened with Kafka, MongoDB and Qdrant (and no TRIBUTARY_FINETUNE_DATASETS)' : null),
  },
  {
    keys: ['qdrantApiKey', 'qdrantCollection', 'qdrantTimeoutMs', 'qdrantFusion'],
    check: (c) => (c.qdrantUrl ? null : 'applies only with QDRANT_URL (the vector index is the embedded SQLite index); set QDRANT_URL or unset it'),
  },
  {
    keys: ['hashingDimension'],
    check: (c) => (embedderChoice(c) === 'hashing' ? null : `applies only to the hashing embedder (the ${embedderChoice(c)} embedder is in use)`),
  },
  {
    keys: ['embedModel', 'embedBaseUrl', 'embedApiKey', 'embedDimension'],
    check: (c) => {
      const e = embedderChoice(c);
      if (e === 'openai') return null;
      if (c.embedder === 'auto' && e === 'hashing') {
        return 'applies only to the OpenAI-compatible embedder, which TRIBUTARY_EMBEDDER=auto picks when both TRIBUTARY_EMBED_BASE_URL and TRIBUTARY_EMBED_MODEL are set; set both (or TRIBUTARY_EMBEDDER=openai)';
      }
      return `applies only to the OpenAI-compatible embedder (the ${e} embedder is in use); set TRIBUTARY_EMBEDDER=openai or unset it`;
    },
  },
  {
    keys: ['embedMaxBatch', 'embedPieceTexts'],
    check: (c) => (embedderChoice(c) === 'hashing' ? 'applies only to the openai and onnx embedders (the hashing embedder is in use)' : null),
  },
  {
    keys: ['onnxModelDir'],
    check: (c) => (embedderChoice(c) === 'onnx' ? null : `applies only to the ONNX embedder (TRIBUTARY_EMBEDDER=${c.embedder} uses the ${embedderChoice(c)} embedder); set TRIBUTARY_EMBEDDER=onnx or auto, or unset it`),
  },
  {
    keys: ['llmApiKey', 'llmModel'],
    check: (c) => (c.llmBaseUrl ? null : 'applies only with TRIBUTARY_LLM_BASE_URL (an OpenAI-compatible LLM endpoint); set it or unset this'),
  },
  {
    keys: ['llmContextTokens', 'llmAnswerTokens'],
    check: (c) => (llmConfigured(c) ? null : `applies only when ${NO_LLM}; without one, answers are extractive`),
  },
  {
    keys: LOCAL_LLM_ONLY,
    check: (c) => (localLlmGguf(c) ? null : 'applies only to the local LLM (TRIBUTARY_LLM_GGUF, or a model pulled with `tributary models pull smollm2`), and none is in use'),
  },
  {
    keys: REMOTE_INFERENCE_ONLY,
    check: (c) => (c.inferenceUpstreams.length > 0 ? null : 'applies only with remote inference upstreams (TRIBUTARY_INFERENCE_UPSTREAMS); set them or unset this'),
  },
  {
    keys: GATEWAY_ONLY,
    check: (c) => (c.inferenceUpstreams.length > 0 || localLlmGguf(c) ? null : 'applies only with an inference gateway: remote upstreams (TRIBUTARY_INFERENCE_UPSTREAMS) or a local LLM (TRIBUTARY_LLM_GGUF); set one or unset this'),
  },
];

/** The settings in `given` that would have no effect under `config`, each with why. */
export function ignoredSettings(config: Config, given: ReadonlySet<string>): Array<{ key: keyof Config; message: string }> {
  const out: Array<{ key: keyof Config; message: string }> = [];
  for (const rule of RULES) {
    for (const key of rule.keys) {
      if (!given.has(key)) continue;
      const why = rule.check(config);
      if (why !== null) out.push({ key, message: `is set but would have no effect: ${why}` });
    }
  }
  return out;
}

/** Every setting that only applies in some configurations (for tests and docs). */
export const CONDITIONAL_SETTINGS: ReadonlyArray<keyof Config> = RULES.flatMap((r) => r.keys);
