import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV_NAMES, loadConfig, type Config } from '../../../wiring/config.ts';
import { CONDITIONAL_SETTINGS } from '../../../wiring/config-rules.ts';
import { createConsumerProcess } from '../../../wiring/consumer-process.ts';
import { createSystem } from '../../../wiring/system.ts';
import { createEmbeddingCache, createVectorIndex } from '../../../wiring/vector-index.ts';

/**
 * No setting is ever silently ignored: every setting either reaches the code it names or, where it
 * would have no effect, start-up refuses it with an error naming the variable and what it needs.
 * One row per setting — the table is typed over every key of the configuration, so a new setting
 * without a row does not compile.
 */

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'tributary-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keysFile = join(dir, 'keys.json');
const KEY = { name: 'ops', sha256: 'a'.repeat(64), scopes: ['admin'] };
writeFileSync(keysFile, JSON.stringify([KEY]));

const KAFKA = { TRIBUTARY_MODE: 'kafka', KAFKA_BROKERS: '127.0.0.1:9092' };
const UPSTREAMS = { TRIBUTARY_INFERENCE_UPSTREAMS: JSON.stringify([{ name: 'gpu', url: 'http://127.0.0.1:9', models: ['m'] }]) };
const OPENAI_EMBEDDER = { TRIBUTARY_EMBEDDER: 'openai', TRIBUTARY_EMBED_MODEL: 'm' };
const LLM = { TRIBUTARY_LLM_BASE_URL: 'http://127.0.0.1:9/v1', TRIBUTARY_LLM_MODEL: 'm' };
const LOCAL_LLM = { TRIBUTARY_LLM_GGUF: join(dir, 'model.gguf') };

type Row =
  /** Applies everywhere (`with`: the companions it needs to be valid at all). */
  | { value: string; with?: Record<string, string> }
  /** Applies only in some configurations: refused under `refusedWith`, taken under `acceptedWith` (null: refused in every configuration). */
  | { value: string; refusedWith: Array<Record<string, string>>; acceptedWith: Record<string, string> | null };

const ROWS: Record<keyof Config, Row> = {
  mode: { value: 'kafka', with: { KAFKA_BROKERS: '127.0.0.1:9092' } },
  port: { value: '9000' },
  host: { value: '127.0.0.2' },
  dataDir: { value: join(dir, 'data') },
  logLevel: { value: 'warn' },
  partitions: { value: '8' },
  sqliteSync: { value: 'normal', refusedWith: [{ ...KAFKA, MONGODB_URL: 'mongodb://127.0.0.1:27017/?replicaSet=rs0', QDRANT_URL: 'http://127.0.0.1:6333' }], acceptedWith: {} },
  embedder: { value: 'openai', with: { TRIBUTARY_EMBED_MODEL: 'm' } },
  hashingDimension: { value: '64', refusedWith: [OPENAI_EMBEDDER], acceptedWith: {} },
  embedModel: { value: 'm', refusedWith: [{}, { TRIBUTARY_EMBEDDER: 'hashing' }], acceptedWith: { TRIBUTARY_EMBED_BASE_URL: 'http://127.0.0.1:9/v1' } },
  embedBaseUrl: { value: 'http://127.0.0.1:9/v1', refusedWith: [{}], acceptedWith: { TRIBUTARY_EMBED_MODEL: 'm' } },
  embedApiKey: { value: 'sk-test', refusedWith: [{}], acceptedWith: OPENAI_EMBEDDER },
  embedDimension: { value: '8', refusedWith: [{}], acceptedWith: OPENAI_EMBEDDER },
  embedMaxBatch: { value: '8', refusedWith: [{}], acceptedWith: OPENAI_EMBEDDER },
  embedPieceTexts: { value: '4', refusedWith: [{}], acceptedWith: OPENAI_EMBEDDER },
  onnxModelDir: { value: join(dir, 'model'), refusedWith: [{ TRIBUTARY_EMBEDDER: 'hashing' }, OPENAI_EMBEDDER], acceptedWith: {} },
  llmBaseUrl: { value: 'http://127.0.0.1:9/v1', with: { TRIBUTARY_LLM_MODEL: 'm' } },
  llmApiKey: { value: 'sk-test', refusedWith: [{}], acceptedWith: LLM },
  llmModel: { value: 'other', refusedWith: [{}], acceptedWith: { TRIBUTARY_LLM_BASE_URL: 'http://127.0.0.1:9/v1' } },
  llmContextTokens: { value: '4096', refusedWith: [{}, { TRIBUTARY_LLM_GGUF: 'off' }], acceptedWith: LOCAL_LLM },
  llmAnswerTokens: { value: '200', refusedWith: [{}], acceptedWith: LLM },
  llmGguf: { value: LOCAL_LLM.TRIBUTARY_LLM_GGUF },
  llmThreads: { value: '3', refusedWith: [{}, LLM, { TRIBUTARY_LLM_GGUF: 'off' }], acceptedWith: LOCAL_LLM },
  llmConcurrency: { value: '2', refusedWith: [{}, LLM], acceptedWith: LOCAL_LLM },
  llmGpu: { value: 'cpu', refusedWith: [{}, LLM], acceptedWith: LOCAL_LLM },
  llmLocalModelId: { value: 'tiny', refusedWith: [{}, LLM], acceptedWith: LOCAL_LLM },
  modelsDir: { value: join(dir, 'models') },
  chunkTokens: { value: '512' },
  chunkOverlapTokens: { value: '16' },
  batchMaxRecords: { value: '100' },
  batchMaxBytes: { value: '100000' },
  batchMaxWaitMs: { value: '20' },
  pipelineThreads: { value: 'off', refusedWith: [{ ...KAFKA, TRIBUTARY_CONSUMERS: 'none' }], acceptedWith: {} },
  pipelineNiceness: { value: '5', refusedWith: [{ TRIBUTARY_PIPELINE_THREADS: 'off' }, { ...KAFKA, TRIBUTARY_CONSUMERS: 'none' }], acceptedWith: {} },
  ingestMaxBacklog: { value: '100' },
  maxAttempts: { value: '3' },
  retryBaseMs: { value: '10' },
  retryMaxMs: { value: '1000' },
  bodyLimitBytes: { value: '100000' },
  maxRecordBytes: { value: '100000' },
  metricsEnabled: { value: 'false' },
  inferenceUpstreams: { value: UPSTREAMS.TRIBUTARY_INFERENCE_UPSTREAMS },
  inferenceMaxAttempts: { value: '2', refusedWith: [{}], acceptedWith: UPSTREAMS },
  inferenceConnectTimeoutMs: { value: '500', refusedWith: [{}, LOCAL_LLM], acceptedWith: UPSTREAMS },
  inferenceFirstByteTimeoutMs: { value: '500', refusedWith: [{}, LOCAL_LLM], acceptedWith: UPSTREAMS },
  inferenceIdleTimeoutMs: { value: '500', refusedWith: [{}, LOCAL_LLM], acceptedWith: UPSTREAMS },
  inferenceHealthIntervalMs: { value: '500', refusedWith: [{}, LOCAL_LLM], acceptedWith: UPSTREAMS },
  inferenceEjectAfterFailures: { value: '5', refusedWith: [{}], acceptedWith: UPSTREAMS },
  inferenceEjectMs: { value: '500', refusedWith: [{}], acceptedWith: UPSTREAMS },
  inferenceEjectMaxMs: { value: '90000', refusedWith: [{}], acceptedWith: UPSTREAMS },
  inferenceAffinityHeader: { value: 'x-user', refusedWith: [{}], acceptedWith: UPSTREAMS },
  inferenceLogPrompts: { value: 'true', refusedWith: [{}], acceptedWith: LOCAL_LLM },
  llmUpstream: { value: 'm', with: UPSTREAMS },
  apiKeys: { value: JSON.stringify([KEY]) },
  apiKeysFile: { value: keysFile },
  kafkaBrokers: { value: '10.0.0.1:9092', refusedWith: [{}], acceptedWith: { TRIBUTARY_MODE: 'kafka' } },
  kafkaClientId: { value: 'other', refusedWith: [{}], acceptedWith: KAFKA },
  kafkaSessionTimeoutMs: { value: '5000', refusedWith: [{}], acceptedWith: KAFKA },
  kafkaRebalanceTimeoutMs: { value: '5000', refusedWith: [{}], acceptedWith: KAFKA },
  kafkaReplicationFactor: { value: '3', refusedWith: [{}], acceptedWith: KAFKA },
  kafkaApplyTopics: { value: 'false', refusedWith: [{}], acceptedWith: KAFKA },
  consumers: { value: 'clean', refusedWith: [{}], acceptedWith: KAFKA },
  metricsPort: { value: '9500', refusedWith: [{}], acceptedWith: KAFKA },
  relayPollMs: { value: '500', refusedWith: [{}], acceptedWith: { MONGODB_URL: 'mongodb://127.0.0.1:27017/?replicaSet=rs0' } },
  schemaRegistryUrl: { value: 'http://127.0.0.1:9/' },
  mongodbUrl: { value: 'mongodb://127.0.0.1:27017/?replicaSet=rs0' },
  qdrantUrl: { value: 'http://127.0.0.1:6333' },
  qdrantApiKey: { value: 'secret', refusedWith: [{}, KAFKA], acceptedWith: { QDRANT_URL: 'http://127.0.0.1:6333' } },
  qdrantCollection: { value: 'other', refusedWith: [{}], acceptedWith: { QDRANT_URL: 'http://127.0.0.1:6333' } },
  qdrantTimeoutMs: { value: '5000', refusedWith: [{}], acceptedWith: { QDRANT_URL: 'http://127.0.0.1:6333' } },
  qdrantFusion: { value: 'client', refusedWith: [{}], acceptedWith: { QDRANT_URL: 'http://127.0.0.1:6333' } },
  answerCacheTtlMs: { value: '60000' },
  guardInjection: { value: 'flag' },
  guardPii: { value: 'off' },
  ragTraces: { value: 'off' },
  judgeSample: { value: '0.5', refusedWith: [{}, { ...LLM, TRIBUTARY_RAG_TRACES: 'off' }], acceptedWith: LLM },
  guardInjectionLlm: { value: 'on', refusedWith: [{}, { ...LLM, TRIBUTARY_GUARD_INJECTION: 'off' }], acceptedWith: LLM },
  promptsDir: { value: dir },
  freshnessProbeMs: { value: '5000' },
  freshnessSloMs: { value: '500', refusedWith: [{ TRIBUTARY_FRESHNESS_PROBE_MS: '0' }], acceptedWith: {} },
  answerCacheEntries: { value: '50', refusedWith: [{ TRIBUTARY_ANSWER_CACHE_TTL_MS: '0' }], acceptedWith: {} },
  finetuneDatasets: { value: JSON.stringify([{ name: 'docs', source: 'content', threshold: 5, launcher: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } }]) },
};

const defaults = loadConfig({});
const isConditional = (r: Row): r is Extract<Row, { refusedWith: unknown }> => 'refusedWith' in r;

function refusal(env: Record<string, string>): Error | null {
  try {
    loadConfig(env);
    return null;
  } catch (e) {
    return e as Error;
  }
}

describe('every setting reaches its code, or is refused where it would have no effect', () => {
  for (const [key, row] of Object.entries(ROWS) as Array<[keyof Config, Row]>) {
    const name = ENV_NAMES[key];
    if (!isConditional(row)) {
      it(`${name} applies in every configuration and is taken`, () => {
        const c = loadConfig({ ...row.with, [name]: row.value });
        expect(c[key]).not.toEqual(defaults[key]);
      });
      continue;
    }
    it(`${name} is refused where it would have no effect${row.acceptedWith ? ', and taken where it applies' : ' (in every configuration)'}`, () => {
      for (const context of row.refusedWith) {
        const err = refusal({ ...context, [name]: row.value });
        expect(err, `${name} with ${JSON.stringify(context)}`).not.toBeNull();
        expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
        expect(err!.message).toContain(name);
        expect(err!.message).toMatch(/no effect|not available/);
        // the same configuration without the setting starts
        expect(refusal(context)).toBeNull();
      }
      if (row.acceptedWith) {
        const c = loadConfig({ ...row.acceptedWith, [name]: row.value });
        expect(c[key]).not.toEqual(defaults[key]);
      }
    });
  }

  it('the rules and the table agree on which settings are conditional', () => {
    const conditional = (Object.entries(ROWS) as Array<[keyof Config, Row]>).filter(([, r]) => isConditional(r)).map(([k]) => k).sort();
    expect([...new Set(CONDITIONAL_SETTINGS)].sort()).toEqual(conditional);
  });

  it('every setting is read by the code outside the configuration module (none is parsed and never used)', () => {
    const sources: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (['node_modules', 'test', 'data', '.git'].includes(f)) continue;
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !/wiring\/config(-rules)?\.ts$/.test(p)) sources.push(readFileSync(p, 'utf8'));
      }
    };
    walk(ROOT);
    const all = sources.join('\n');
    // apiKeysFile is read by loadConfig itself (it becomes apiKeys); a setting refused everywhere needs no reader
    const exempt = new Set(['apiKeysFile', ...(Object.entries(ROWS) as Array<[string, Row]>).filter(([, r]) => isConditional(r) && r.acceptedWith === null).map(([k]) => k)]);
    const unused = Object.keys(ROWS).filter((k) => !exempt.has(k) && !new RegExp(`\\.${k}\\b`).test(all));
    expect(unused, 'settings no code reads').toEqual([]);
  });

  it('the README\'s configuration tables name every variable', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(Object.values(ENV_NAMES).filter((v) => !readme.includes(`\`${v}\``))).toEqual([]);
  });

  it('a misspelt variable or config-file key is refused with the closest setting', () => {
    expect(() => loadConfig({ TRIBUTARY_QDRANT_URL: 'http://127.0.0.1:6333' })).toThrow(/TRIBUTARY_QDRANT_URL is not a Tributary setting \(did you mean QDRANT_URL\?\)/);
    expect(() => loadConfig({ TRIBUTARY_PARTITONS: '4' })).toThrow(/did you mean TRIBUTARY_PARTITIONS/);
    const file = join(dir, 'typo.json');
    writeFileSync(file, JSON.stringify({ qdrantUrll: 'http://127.0.0.1:6333' }));
    expect(() => loadConfig({ TRIBUTARY_CONFIG_FILE: file })).toThrow(/qdrantUrll in TRIBUTARY_CONFIG_FILE is not a setting \(did you mean qdrantUrl\?\)/);
    // variables of the CLI and the test tools are not settings and are left alone
    expect(() => loadConfig({ TRIBUTARY_URL: 'http://127.0.0.1:8080', TRIBUTARY_TEST_X: '1' })).not.toThrow();
  });
});

describe('composition: one factory per port picks the adapter from the settings', () => {
  it('QDRANT_URL selects the Qdrant index and an embedding cache with no file of its own, in every process that indexes', () => {
    const c = loadConfig({ QDRANT_URL: 'http://127.0.0.1:6333', QDRANT_COLLECTION: 'kb', TRIBUTARY_DATA_DIR: join(dir, 'q') });
    const index = createVectorIndex(c, 8);
    expect(index.kind).toBe('qdrant');
    expect(createEmbeddingCache(c, index).kind).toBe('qdrant');
    const embedded = createVectorIndex(loadConfig({ TRIBUTARY_DATA_DIR: join(dir, 'e') }), 8);
    expect(embedded.kind).toBe('embedded');
    expect(readdirSync(dir)).not.toContain('q'); // building the Qdrant pair touched no file
  });

  it('npm start with QDRANT_URL uses Qdrant: an unreachable one stops start-up, naming it', async () => {
    const c = loadConfig({ QDRANT_URL: 'http://127.0.0.1:9', TRIBUTARY_QDRANT_TIMEOUT_MS: '1000', TRIBUTARY_DATA_DIR: join(dir, 'unreachable'), TRIBUTARY_LOG_LEVEL: 'silent' });
    await expect(createSystem(c, { consumers: false })).rejects.toMatchObject({ code: 'INDEX_UNAVAILABLE', message: expect.stringMatching(/qdrant index: init \(http:\/\/127\.0\.0\.1:9/) });
  });

  it('the archive consumer is refused as a process of its own while the store is the API process\'s SQLite file', async () => {
    const c = loadConfig({ ...KAFKA, TRIBUTARY_LOG_LEVEL: 'silent' });
    await expect(createConsumerProcess(c, 'archive')).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/TRIBUTARY_CONSUMERS=archive.*or set MONGODB_URL/) });
  });

  it('MONGODB_URL selects the MongoDB store: a server that is not there stops start-up, naming it; a URL that is not mongodb:// is refused', async () => {
    expect(() => loadConfig({ MONGODB_URL: 'http://127.0.0.1:27017' })).toThrow(/MONGODB_URL \(mongodbUrl\): must be a mongodb:\/\//);
    const c = loadConfig({ MONGODB_URL: 'mongodb://127.0.0.1:9/?replicaSet=rs0&serverSelectionTimeoutMS=500', TRIBUTARY_DATA_DIR: join(dir, 'mongo'), TRIBUTARY_LOG_LEVEL: 'silent' });
    await expect(createSystem(c, { consumers: false })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/mongodb store: init \(mongodb:\/\/127\.0\.0\.1:9/) });
  });
});
