import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_NAMES, loadConfig } from '../../../wiring/config.ts';

describe('configuration (read once, validated, errors name the variable)', () => {
  it('has defaults that run the embedded system with no variables at all', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ mode: 'embedded', port: 8080, dataDir: './data', embedder: 'auto', chunkTokens: 256, chunkOverlapTokens: 32 });
  });

  it('reads every key from its environment variable', () => {
    const c = loadConfig({ PORT: '9001', TRIBUTARY_DATA_DIR: '/x', TRIBUTARY_PARTITIONS: '8', TRIBUTARY_METRICS: 'false', TRIBUTARY_SQLITE_SYNC: 'normal' });
    expect(c).toMatchObject({ port: 9001, dataDir: '/x', partitions: 8, metricsEnabled: false, sqliteSync: 'normal' });
  });

  it('fails fast with a message naming each bad variable and what is expected', () => {
    let err: unknown;
    try { loadConfig({ PORT: 'eighty', TRIBUTARY_EMBEDDER: 'magic', TRIBUTARY_BATCH_MAX_RECORDS: '0' }); } catch (e) { err = e; }
    expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
    const msg = (err as Error).message;
    expect(msg).toContain('PORT');
    expect(msg).toContain('TRIBUTARY_EMBEDDER');
    expect(msg).toContain('TRIBUTARY_BATCH_MAX_RECORDS');
    expect(msg).not.toContain('TRIBUTARY_DATA_DIR');
    // cross-field rules name the variable too
    expect(() => loadConfig({ TRIBUTARY_CHUNK_TOKENS: '64', TRIBUTARY_CHUNK_OVERLAP_TOKENS: '64' })).toThrow(/TRIBUTARY_CHUNK_OVERLAP_TOKENS.*smaller than chunkTokens/);
  });

  it('requires the companions of a choice (model for openai, brokers for kafka)', () => {
    expect(() => loadConfig({ TRIBUTARY_EMBEDDER: 'openai' })).toThrow(/TRIBUTARY_EMBED_MODEL/);
    expect(() => loadConfig({ TRIBUTARY_MODE: 'kafka' })).toThrow(/KAFKA_BROKERS/);
    expect(() => loadConfig({ TRIBUTARY_LLM_BASE_URL: 'http://127.0.0.1:9/v1' })).toThrow(/TRIBUTARY_LLM_MODEL/);
  });

  it('reads a JSON config file; environment variables win over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-cfg-'));
    try {
      const file = join(dir, 'tributary.json');
      writeFileSync(file, JSON.stringify({ port: 7000, chunkTokens: 512, dataDir: '/from-file' }));
      const c = loadConfig({ TRIBUTARY_CONFIG_FILE: file, TRIBUTARY_DATA_DIR: '/from-env' });
      expect(c).toMatchObject({ port: 7000, chunkTokens: 512, dataDir: '/from-env' });
      writeFileSync(file, '{ not json');
      expect(() => loadConfig({ TRIBUTARY_CONFIG_FILE: file })).toThrow(/TRIBUTARY_CONFIG_FILE/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps every configuration key to a distinct environment variable', () => {
    const names = Object.values(ENV_NAMES);
    expect(new Set(names).size).toBe(names.length);
  });
});
