import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TributaryError } from '../ports/errors.ts';
import { apiKeyConfigSchema } from '../api/auth/api-key-config.ts';
import { jsonArray, upstreamListSchema } from '../inference/upstream-config.ts';
import { finetuneDatasetSchema } from '../schemas/finetune.ts';
import { ignoredSettings } from './config-rules.ts';
import { localLlmGguf, localLlmModelId, modelsDirOf, onnxModelDirOf } from './model-choice.ts';

/**
 * One validated configuration, read once at start-up. Defaults live here and only here.
 * Each key maps to one environment variable (ENV_NAMES); a config file (TRIBUTARY_CONFIG_FILE, JSON)
 * may set the same keys; environment variables win.
 */

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])]).transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

export const configSchema = z.object({
  mode: z.enum(['embedded', 'kafka']).default('embedded'),
  port: int(0, 65535).default(8080),
  host: z.string().min(1).default('127.0.0.1'),
  dataDir: z.string().min(1).default('./data'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  partitions: int(1, 256).default(4),
  sqliteSync: z.enum(['full', 'normal']).default('full'),

  embedder: z.enum(['auto', 'hashing', 'openai', 'onnx']).default('auto'),
  hashingDimension: int(16, 4096).default(256),
  embedModel: z.string().min(1).optional(),
  embedBaseUrl: z.url().optional(),
  embedApiKey: z.string().optional(),
  embedDimension: int(1, 16384).optional(),
  embedMaxBatch: int(1, 4096).default(64),
  /** Texts per call to the embedder for pipeline batches (a query waits at most for one such call on a local model); default 8 for the ONNX model, TRIBUTARY_EMBED_MAX_BATCH for a remote one. */
  embedPieceTexts: int(1, 100_000).optional(),
  onnxModelDir: z.string().min(1).optional(),

  llmBaseUrl: z.url().optional(),
  llmApiKey: z.string().optional(),
  llmModel: z.string().min(1).optional(),
  llmContextTokens: int(512, 2_000_000).default(8192),
  /** Tokens a RAG answer may take; default min(1024, context / 4), and 384 for the local model (a small model rambles past that). */
  llmAnswerTokens: int(16, 100_000).optional(),
  /**
   * A GGUF file for the local LLM (node-llama-cpp, in-process), or "off" to run without one even when
   * a pulled model is in the models directory. Unset: the model `tributary models pull smollm2`
   * put in the models directory, when it is there and no other LLM is configured.
   */
  llmGguf: z.string().min(1).optional(),
  /** CPU threads for the local LLM; default: the machine's cores (more oversubscribes them). */
  llmThreads: int(1, 1024).optional(),
  /** Generations the local LLM runs at once (parallel sequences in one context); more wait in the queue. */
  llmConcurrency: int(1, 64).default(1),
  /** Where the local LLM computes: auto (a GPU when one is usable, else the CPU), cpu, cuda, vulkan or metal. */
  llmGpu: z.enum(['auto', 'cpu', 'cuda', 'vulkan', 'metal']).default('auto'),
  /** The model id the local LLM is served under (GET /v1/models, the proxy's `model` field); default: the file name without .gguf. */
  llmLocalModelId: z.string().min(1).max(200).optional(),
  /** Where `tributary models pull` puts models and where start-up looks for them; default <dataDir>/models. */
  modelsDir: z.string().min(1).optional(),

  chunkTokens: int(16, 8192).default(256),
  chunkOverlapTokens: int(0, 4096).default(32),

  batchMaxRecords: int(1, 100_000).default(256),
  batchMaxBytes: int(1024, 512 * 1024 * 1024).default(8 * 1024 * 1024),
  batchMaxWaitMs: int(0, 60_000).default(10),
  /**
   * Where the clean and embed consumers of an API process run: on (a worker thread each, off the API's
   * event loop, using the machine's cores; wiring/pipeline-threads.ts) or off (on the API's own thread:
   * for debugging, and for tests that read the stages' spans in-process).
   */
  pipelineThreads: z.enum(['on', 'off']).default('on'),
  /** How much lower the pipeline threads' scheduling priority is than the API thread's (Linux nice, 0–19; 0 keeps it equal). */
  pipelineNiceness: int(0, 19).default(10),
  /**
   * Back-pressure on POST /v1/content: once this many change events wait in the pipeline (not yet
   * cleaned, or cleaned and not yet embedded), writes are refused with 429 and a Retry-After until it
   * drains below; 0 turns the limit off.
   */
  ingestMaxBacklog: int(0, 100_000_000).default(20_000),
  maxAttempts: int(1, 100).default(5),
  retryBaseMs: int(1, 600_000).default(100),
  retryMaxMs: int(1, 3_600_000).default(30_000),

  bodyLimitBytes: int(1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  maxRecordBytes: int(1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  metricsEnabled: bool.default(true),
  /** The port of the /metrics and /healthz server of `tributary consume …` and `tributary cdc` processes (on HOST; 0 picks a free one). The API serves them on PORT. */
  metricsPort: int(0, 65535).default(9464),

  inferenceUpstreams: upstreamListSchema.default([]),
  inferenceMaxAttempts: int(1, 10).default(3),
  inferenceConnectTimeoutMs: int(1, 600_000).default(2_000),
  inferenceFirstByteTimeoutMs: int(1, 3_600_000).default(120_000),
  inferenceIdleTimeoutMs: int(1, 3_600_000).default(30_000),
  inferenceHealthIntervalMs: int(0, 3_600_000).default(5_000),
  inferenceEjectAfterFailures: int(1, 1000).default(3),
  inferenceEjectMs: int(1, 3_600_000).default(5_000),
  inferenceEjectMaxMs: int(1, 3_600_000).default(60_000),
  inferenceAffinityHeader: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name, or "none"').transform((h) => h.toLowerCase()).default('x-session-id'),
  inferenceLogPrompts: bool.default(false),
  llmUpstream: z.string().min(1).optional(),

  apiKeys: jsonArray(apiKeyConfigSchema).default([]),
  apiKeysFile: z.string().min(1).optional(),

  kafkaBrokers: z.string().min(1).optional(),
  kafkaClientId: z.string().min(1).max(200).default('tributary'),
  kafkaSessionTimeoutMs: int(1_000, 3_600_000).default(10_000),
  kafkaRebalanceTimeoutMs: int(1_000, 3_600_000).default(60_000),
  kafkaReplicationFactor: int(-1, 32).default(-1),
  kafkaApplyTopics: bool.default(true),
  /** Which consumers `tributary dev` runs in its own process: all, none, or a list (clean,embed,archive). */
  consumers: z.string().regex(/^(all|none|[a-z-]+(,[a-z-]+)*)$/, 'must be "all", "none" or a comma-separated list such as "clean,embed"').default('all'),
  relayPollMs: int(5, 60_000).default(50),
  schemaRegistryUrl: z.url().optional(),
  mongodbUrl: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL (a replica set: ?replicaSet=<name>)').optional(),
  qdrantUrl: z.url().optional(),
  qdrantApiKey: z.string().optional(),
  qdrantCollection: z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/, 'must be 1–200 letters, digits, "_", "-" or "."').default('chunks'),
  qdrantTimeoutMs: int(100, 600_000).default(30_000),
  /**
   * Where hybrid search on Qdrant fuses dense and keyword results: server (one Query API request,
   * prefetch + rrf; measured faster: bench/qdrant-bench.ts) or client (two result lists fused here,
   * each hit reporting its rank on both sides).
   */
  qdrantFusion: z.enum(['client', 'server']).default('server'),
  /**
   * Fine-tuning datasets the finetune-trigger consumer keeps (a JSON list): each counts net-new
   * items and launches one fine-tune job on a pinned version when it reaches its threshold.
   */
  finetuneDatasets: jsonArray(finetuneDatasetSchema).default([]),
  /** How long a RAG answer is served again for the same question (unless a source changed); 0 turns the answer cache off. */
  answerCacheTtlMs: int(0, 7 * 24 * 3600_000).default(3_600_000),
  /** Answers the cache holds (least recently used dropped first). */
  answerCacheEntries: int(1, 1_000_000).default(1000),
  /** Prompt injection in a RAG question: block it (an error), flag it (answered, reported), or off; a flagged retrieved chunk is left out of the context (block) or reported (flag). */
  guardInjection: z.enum(['block', 'flag', 'off']).default('block'),
  /** PII and secrets in RAG answers: masked as the answer streams, or off. */
  guardPii: z.enum(['mask', 'off']).default('mask'),
  /** RAG traces (tributary.rag.traces, GET /v1/traces): on, or off (no trace is written). */
  ragTraces: z.enum(['on', 'off']).default('on'),
  /** The share of RAG traces the judge consumer scores with the LLM (0–1; 0 turns it off). Needs an LLM and traces. */
  judgeSample: z.coerce.number().min(0).max(1).default(0.1),
  /** The LLM prompt-injection classifier, beside the rule set, on the question and the retrieved chunks: on or off. Needs an LLM. */
  guardInjectionLlm: z.enum(['on', 'off']).default('off'),
  /** How often the freshness probe rewrites its synthetic document and times it until searchable (ms; 0 turns it off). */
  freshnessProbeMs: int(0, 24 * 3600_000).default(30_000),
  /** The freshness SLO: source write → searchable (ms); a slower probe burns the error budget, a p99 above it is logged and alerted on. */
  freshnessSloMs: int(10, 3600_000).default(2000),
  /** A directory of prompt templates (<id>.md) that replace the shipped ones (prompts/) by id. */
  promptsDir: z.string().min(1).optional(),
}).superRefine((c, ctx) => {
  if (c.chunkOverlapTokens >= c.chunkTokens) {
    ctx.addIssue({ code: 'custom', path: ['chunkOverlapTokens'], message: `must be smaller than chunkTokens (${c.chunkTokens})` });
  }
  if (c.embedder === 'openai' && !c.embedModel) {
    ctx.addIssue({ code: 'custom', path: ['embedModel'], message: 'is required when TRIBUTARY_EMBEDDER=openai (e.g. text-embedding-3-small)' });
  }
  if (c.embedder === 'onnx' && !onnxModelDirOf(c)) {
    ctx.addIssue({ code: 'custom', path: ['onnxModelDir'], message: `is required when TRIBUTARY_EMBEDDER=onnx (a directory with config.json, tokenizer.json and onnx/model.onnx), unless \`tributary models pull minilm\` put one in the models directory (${modelsDirOf(c)})` });
  }
  if (c.llmBaseUrl && !c.llmModel) {
    ctx.addIssue({ code: 'custom', path: ['llmModel'], message: 'is required when TRIBUTARY_LLM_BASE_URL is set' });
  }
  if (c.llmUpstream) {
    if (c.llmBaseUrl) ctx.addIssue({ code: 'custom', path: ['llmUpstream'], message: 'set either TRIBUTARY_LLM_UPSTREAM (the RAG LLM through the inference proxy) or TRIBUTARY_LLM_BASE_URL, not both' });
    else if (!c.inferenceUpstreams.some((u) => u.models.includes(c.llmUpstream!)) && c.llmUpstream !== localLlmModelId(c)) {
      const known = [...new Set([...c.inferenceUpstreams.flatMap((u) => u.models), ...(localLlmGguf(c) ? [localLlmModelId(c)!] : [])])];
      ctx.addIssue({ code: 'custom', path: ['llmUpstream'], message: `no upstream in TRIBUTARY_INFERENCE_UPSTREAMS serves model "${c.llmUpstream}" (known: ${known.join(', ') || 'none'})` });
    }
  }
  if (c.inferenceEjectMaxMs < c.inferenceEjectMs) {
    ctx.addIssue({ code: 'custom', path: ['inferenceEjectMaxMs'], message: `must be at least TRIBUTARY_INFERENCE_EJECT_MS (${c.inferenceEjectMs})` });
  }
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const [i, k] of c.apiKeys.entries()) {
    if (names.has(k.name)) ctx.addIssue({ code: 'custom', path: ['apiKeys', i, 'name'], message: `key name "${k.name}" is used twice` });
    if (hashes.has(k.sha256)) ctx.addIssue({ code: 'custom', path: ['apiKeys', i, 'sha256'], message: `key "${k.name}" has the same hash as another key` });
    names.add(k.name);
    hashes.add(k.sha256);
  }
  const datasetNames = new Set<string>();
  for (const [i, d] of c.finetuneDatasets.entries()) {
    if (datasetNames.has(d.name)) ctx.addIssue({ code: 'custom', path: ['finetuneDatasets', i, 'name'], message: `dataset name "${d.name}" is used twice` });
    datasetNames.add(d.name);
  }
  if (c.mode === 'kafka' && !c.kafkaBrokers) {
    ctx.addIssue({ code: 'custom', path: ['kafkaBrokers'], message: 'is required when TRIBUTARY_MODE=kafka (e.g. 127.0.0.1:9092)' });
  }
});

export type Config = z.infer<typeof configSchema>;

export { modelsDirOf } from './model-choice.ts';

export const ENV_NAMES: Record<keyof z.input<typeof configSchema>, string> = {
  mode: 'TRIBUTARY_MODE',
  port: 'PORT',
  host: 'HOST',
  dataDir: 'TRIBUTARY_DATA_DIR',
  logLevel: 'TRIBUTARY_LOG_LEVEL',
  partitions: 'TRIBUTARY_PARTITIONS',
  sqliteSync: 'TRIBUTARY_SQLITE_SYNC',
  embedder: 'TRIBUTARY_EMBEDDER',
  hashingDimension: 'TRIBUTARY_HASHING_DIMENSION',
  embedModel: 'TRIBUTARY_EMBED_MODEL',
  embedBaseUrl: 'TRIBUTARY_EMBED_BASE_URL',
  embedApiKey: 'TRIBUTARY_EMBED_API_KEY',
  embedDimension: 'TRIBUTARY_EMBED_DIMENSION',
  embedMaxBatch: 'TRIBUTARY_EMBED_MAX_BATCH',
  onnxModelDir: 'TRIBUTARY_ONNX_MODEL_DIR',
  llmBaseUrl: 'TRIBUTARY_LLM_BASE_URL',
  llmApiKey: 'TRIBUTARY_LLM_API_KEY',
  llmModel: 'TRIBUTARY_LLM_MODEL',
  llmContextTokens: 'TRIBUTARY_LLM_CONTEXT_TOKENS',
  llmAnswerTokens: 'TRIBUTARY_LLM_ANSWER_TOKENS',
  llmGguf: 'TRIBUTARY_LLM_GGUF',
  llmThreads: 'TRIBUTARY_LLM_THREADS',
  llmConcurrency: 'TRIBUTARY_LLM_CONCURRENCY',
  llmGpu: 'TRIBUTARY_LLM_GPU',
  llmLocalModelId: 'TRIBUTARY_LLM_LOCAL_MODEL',
  modelsDir: 'TRIBUTARY_MODELS_DIR',
  chunkTokens: 'TRIBUTARY_CHUNK_TOKENS',
  chunkOverlapTokens: 'TRIBUTARY_CHUNK_OVERLAP_TOKENS',
  batchMaxRecords: 'TRIBUTARY_BATCH_MAX_RECORDS',
  batchMaxBytes: 'TRIBUTARY_BATCH_MAX_BYTES',
  batchMaxWaitMs: 'TRIBUTARY_BATCH_MAX_WAIT_MS',
  embedPieceTexts: 'TRIBUTARY_EMBED_PIECE_TEXTS',
  pipelineThreads: 'TRIBUTARY_PIPELINE_THREADS',
  pipelineNiceness: 'TRIBUTARY_PIPELINE_NICENESS',
  ingestMaxBacklog: 'TRIBUTARY_INGEST_MAX_BACKLOG',
  maxAttempts: 'TRIBUTARY_MAX_ATTEMPTS',
  retryBaseMs: 'TRIBUTARY_RETRY_BASE_MS',
  retryMaxMs: 'TRIBUTARY_RETRY_MAX_MS',
  bodyLimitBytes: 'TRIBUTARY_BODY_LIMIT_BYTES',
  maxRecordBytes: 'TRIBUTARY_MAX_RECORD_BYTES',
  metricsEnabled: 'TRIBUTARY_METRICS',
  metricsPort: 'TRIBUTARY_METRICS_PORT',
  inferenceUpstreams: 'TRIBUTARY_INFERENCE_UPSTREAMS',
  inferenceMaxAttempts: 'TRIBUTARY_INFERENCE_MAX_ATTEMPTS',
  inferenceConnectTimeoutMs: 'TRIBUTARY_INFERENCE_CONNECT_TIMEOUT_MS',
  inferenceFirstByteTimeoutMs: 'TRIBUTARY_INFERENCE_FIRST_BYTE_TIMEOUT_MS',
  inferenceIdleTimeoutMs: 'TRIBUTARY_INFERENCE_IDLE_TIMEOUT_MS',
  inferenceHealthIntervalMs: 'TRIBUTARY_INFERENCE_HEALTH_INTERVAL_MS',
  inferenceEjectAfterFailures: 'TRIBUTARY_INFERENCE_EJECT_AFTER_FAILURES',
  inferenceEjectMs: 'TRIBUTARY_INFERENCE_EJECT_MS',
  inferenceEjectMaxMs: 'TRIBUTARY_INFERENCE_EJECT_MAX_MS',
  inferenceAffinityHeader: 'TRIBUTARY_INFERENCE_AFFINITY_HEADER',
  inferenceLogPrompts: 'TRIBUTARY_INFERENCE_LOG_PROMPTS',
  llmUpstream: 'TRIBUTARY_LLM_UPSTREAM',
  apiKeys: 'TRIBUTARY_API_KEYS',
  apiKeysFile: 'TRIBUTARY_API_KEYS_FILE',
  kafkaBrokers: 'KAFKA_BROKERS',
  kafkaClientId: 'KAFKA_CLIENT_ID',
  kafkaSessionTimeoutMs: 'TRIBUTARY_KAFKA_SESSION_TIMEOUT_MS',
  kafkaRebalanceTimeoutMs: 'TRIBUTARY_KAFKA_REBALANCE_TIMEOUT_MS',
  kafkaReplicationFactor: 'TRIBUTARY_KAFKA_REPLICATION_FACTOR',
  kafkaApplyTopics: 'TRIBUTARY_KAFKA_APPLY_TOPICS',
  consumers: 'TRIBUTARY_CONSUMERS',
  relayPollMs: 'TRIBUTARY_RELAY_POLL_MS',
  schemaRegistryUrl: 'SCHEMA_REGISTRY_URL',
  mongodbUrl: 'MONGODB_URL',
  qdrantUrl: 'QDRANT_URL',
  qdrantApiKey: 'QDRANT_API_KEY',
  qdrantCollection: 'QDRANT_COLLECTION',
  qdrantTimeoutMs: 'TRIBUTARY_QDRANT_TIMEOUT_MS',
  qdrantFusion: 'TRIBUTARY_QDRANT_FUSION',
  finetuneDatasets: 'TRIBUTARY_FINETUNE_DATASETS',
  answerCacheTtlMs: 'TRIBUTARY_ANSWER_CACHE_TTL_MS',
  answerCacheEntries: 'TRIBUTARY_ANSWER_CACHE_ENTRIES',
  guardInjection: 'TRIBUTARY_GUARD_INJECTION',
  guardPii: 'TRIBUTARY_GUARD_PII',
  ragTraces: 'TRIBUTARY_RAG_TRACES',
  judgeSample: 'TRIBUTARY_JUDGE_SAMPLE',
  guardInjectionLlm: 'TRIBUTARY_GUARD_INJECTION_LLM',
  promptsDir: 'TRIBUTARY_PROMPTS_DIR',
  freshnessProbeMs: 'TRIBUTARY_FRESHNESS_PROBE_MS',
  freshnessSloMs: 'TRIBUTARY_FRESHNESS_SLO_MS',
};

/** TRIBUTARY_* variables that are not settings but are read elsewhere (the CLI, tests, benchmarks). */
const OTHER_VARIABLES = new Set(['TRIBUTARY_CONFIG_FILE', 'TRIBUTARY_URL', 'TRIBUTARY_API_KEY', 'TRIBUTARY_DEBUG', 'TRIBUTARY_INVOKED_AS']);
const OTHER_PREFIXES = ['TRIBUTARY_TEST_', 'TRIBUTARY_BENCH_'];

function isUnknownTributaryVariable(name: string): boolean {
  if (!name.startsWith('TRIBUTARY_') || OTHER_VARIABLES.has(name) || OTHER_PREFIXES.some((p) => name.startsWith(p))) return false;
  return !(Object.values(ENV_NAMES) as string[]).includes(name);
}

/** " (did you mean X?)" for the closest known name, when one is close. */
function suggest(name: string, known: string[]): string {
  const strip = (n: string) => n.toUpperCase().replace(/^TRIBUTARY_/, '').replace(/[^A-Z0-9]/g, '');
  let best: { name: string; d: number } | null = null;
  for (const k of known) {
    const d = editDistance(strip(name), strip(k));
    if (!best || d < best.d) best = { name: k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(strip(name).length / 4)) ? ` (did you mean ${best.name}?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Reads and validates the configuration. Throws INVALID_CONFIG naming each variable to fix. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<z.input<typeof configSchema>> = {}): Config {
  let fromFile: Record<string, unknown> = {};
  const file = env['TRIBUTARY_CONFIG_FILE'];
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new TributaryError('INVALID_CONFIG', `TRIBUTARY_CONFIG_FILE=${file} could not be read as JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  const unknown = [
    ...Object.keys(fromFile).filter((k) => !(k in ENV_NAMES)).map((k) => `${k} in TRIBUTARY_CONFIG_FILE is not a setting${suggest(k, Object.keys(ENV_NAMES))}`),
    ...Object.keys(env).filter(isUnknownTributaryVariable).map((k) => `${k} is not a Tributary setting${suggest(k, Object.values(ENV_NAMES))}`),
  ];
  if (unknown.length > 0) {
    throw new TributaryError('INVALID_CONFIG', `invalid configuration:\n${unknown.map((u) => `  ${u}`).join('\n')}\nFix or remove it: a setting Tributary does not know would be silently ignored.`);
  }
  const raw: Record<string, unknown> = { ...fromFile };
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  Object.assign(raw, overrides);
  if (typeof raw['apiKeysFile'] === 'string' && raw['apiKeysFile'] !== '') {
    const keysFile = raw['apiKeysFile'];
    if (raw['apiKeys'] !== undefined) {
      throw new TributaryError('INVALID_CONFIG', 'set either TRIBUTARY_API_KEYS or TRIBUTARY_API_KEYS_FILE, not both');
    }
    try {
      raw['apiKeys'] = JSON.parse(readFileSync(keysFile, 'utf8')) as unknown;
    } catch (e) {
      throw new TributaryError('INVALID_CONFIG', `TRIBUTARY_API_KEYS_FILE=${keysFile} could not be read as JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  const parsed = configSchema.safeParse(raw);
  if (parsed.success) {
    // every setting given must reach the code it names: one that would have no effect is refused
    const ignored = ignoredSettings(parsed.data, new Set(Object.keys(raw).filter((k) => raw[k] !== undefined && k in ENV_NAMES)));
    if (ignored.length > 0) {
      const lines = ignored.map((i) => `  ${ENV_NAMES[i.key as keyof typeof ENV_NAMES]} (${i.key}): ${i.message}`);
      throw new TributaryError('INVALID_CONFIG', `invalid configuration:\n${lines.join('\n')}\nUnset the variable(s) above, or set what they depend on.`, {
        details: ignored.map((i) => ({ path: [i.key], message: i.message })),
      });
    }
  }
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      const envName = (ENV_NAMES as Record<string, string>)[key];
      // nested keys (a list in a JSON variable) name the element: inferenceUpstreams[0].url
      const where = key + i.path.slice(1).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      return `  ${envName ?? key}${envName ? ` (${where})` : ''}: ${i.message}`;
    });
    throw new TributaryError('INVALID_CONFIG', `invalid configuration:\n${lines.join('\n')}\nSet the variable(s) above in the environment or in TRIBUTARY_CONFIG_FILE.`, {
      details: parsed.error.issues,
    });
  }
  return parsed.data;
}
