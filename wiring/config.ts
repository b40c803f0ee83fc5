import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TributaryError } from '../ports/errors.ts';

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
  onnxModelDir: z.string().min(1).optional(),

  llmBaseUrl: z.url().optional(),
  llmApiKey: z.string().optional(),
  llmModel: z.string().min(1).optional(),
  llmContextTokens: int(512, 2_000_000).default(8192),

  chunkTokens: int(16, 8192).default(256),
  chunkOverlapTokens: int(0, 4096).default(32),

  batchMaxRecords: int(1, 100_000).default(256),
  batchMaxBytes: int(1024, 512 * 1024 * 1024).default(8 * 1024 * 1024),
  batchMaxWaitMs: int(0, 60_000).default(10),
  maxAttempts: int(1, 100).default(5),
  retryBaseMs: int(1, 600_000).default(100),
  retryMaxMs: int(1, 3_600_000).default(30_000),

  bodyLimitBytes: int(1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  maxRecordBytes: int(1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  metricsEnabled: bool.default(true),

  kafkaBrokers: z.string().min(1).optional(),
  schemaRegistryUrl: z.url().optional(),
  mongodbUrl: z.string().min(1).optional(),
  qdrantUrl: z.url().optional(),
  qdrantApiKey: z.string().optional(),
}).superRefine((c, ctx) => {
  if (c.chunkOverlapTokens >= c.chunkTokens) {
    ctx.addIssue({ code: 'custom', path: ['chunkOverlapTokens'], message: `must be smaller than chunkTokens (${c.chunkTokens})` });
  }
  if (c.embedder === 'openai' && !c.embedModel) {
    ctx.addIssue({ code: 'custom', path: ['embedModel'], message: 'is required when TRIBUTARY_EMBEDDER=openai (e.g. text-embedding-3-small)' });
  }
  if (c.embedder === 'onnx' && !c.onnxModelDir) {
    ctx.addIssue({ code: 'custom', path: ['onnxModelDir'], message: 'is required when TRIBUTARY_EMBEDDER=onnx (a directory with config.json, tokenizer.json and onnx/model.onnx)' });
  }
  if (c.llmBaseUrl && !c.llmModel) {
    ctx.addIssue({ code: 'custom', path: ['llmModel'], message: 'is required when TRIBUTARY_LLM_BASE_URL is set' });
  }
  if (c.mode === 'kafka' && !c.kafkaBrokers) {
    ctx.addIssue({ code: 'custom', path: ['kafkaBrokers'], message: 'is required when TRIBUTARY_MODE=kafka (e.g. 127.0.0.1:9092)' });
  }
});

export type Config = z.infer<typeof configSchema>;

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
  chunkTokens: 'TRIBUTARY_CHUNK_TOKENS',
  chunkOverlapTokens: 'TRIBUTARY_CHUNK_OVERLAP_TOKENS',
  batchMaxRecords: 'TRIBUTARY_BATCH_MAX_RECORDS',
  batchMaxBytes: 'TRIBUTARY_BATCH_MAX_BYTES',
  batchMaxWaitMs: 'TRIBUTARY_BATCH_MAX_WAIT_MS',
  maxAttempts: 'TRIBUTARY_MAX_ATTEMPTS',
  retryBaseMs: 'TRIBUTARY_RETRY_BASE_MS',
  retryMaxMs: 'TRIBUTARY_RETRY_MAX_MS',
  bodyLimitBytes: 'TRIBUTARY_BODY_LIMIT_BYTES',
  maxRecordBytes: 'TRIBUTARY_MAX_RECORD_BYTES',
  metricsEnabled: 'TRIBUTARY_METRICS',
  kafkaBrokers: 'KAFKA_BROKERS',
  schemaRegistryUrl: 'SCHEMA_REGISTRY_URL',
  mongodbUrl: 'MONGODB_URL',
  qdrantUrl: 'QDRANT_URL',
  qdrantApiKey: 'QDRANT_API_KEY',
};

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
  const raw: Record<string, unknown> = { ...fromFile };
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  Object.assign(raw, overrides);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      const envName = (ENV_NAMES as Record<string, string>)[key];
      return `  ${envName ?? key}${envName ? ` (${key})` : ''}: ${i.message}`;
    });
    throw new TributaryError('INVALID_CONFIG', `invalid configuration:\n${lines.join('\n')}\nSet the variable(s) above in the environment or in TRIBUTARY_CONFIG_FILE.`, {
      details: parsed.error.issues,
    });
  }
  return parsed.data;
}
