import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../wiring/config.ts';
import { catalogueModel, expectedFiles } from '../../../wiring/model-catalogue.ts';
import { embedderChoice, llmChoice, localLlmGguf, localLlmModelId, onnxModelDirOf } from '../../../wiring/model-choice.ts';
import { openIndexing } from '../../../wiring/vector-index.ts';
import { describeWith } from '../../helpers/ci.ts';
import { ONNX_MODEL_DIR, ONNX_MODEL_NEED } from '../../helpers/onnx-model.ts';

const ONNX_MODEL = ONNX_MODEL_DIR;

/** Lays out a catalogue model's files at their expected sizes (sparse: no real weights needed to test the choice). */
function fakePull(modelsDir: string, name: 'smollm2' | 'minilm'): void {
  for (const f of expectedFiles(modelsDir, catalogueModel(name)!)) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, '');
    truncateSync(f.path, f.size);
  }
}

describe('which models a configuration runs: set, else pulled into the models directory, else none', () => {
  const root = mkdtempSync(join(tmpdir(), 'tributary-models-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('with nothing pulled: the hashing embedder and extractive answers', () => {
    const c = loadConfig({}, { dataDir: join(root, 'empty') });
    expect(embedderChoice(c)).toBe('hashing');
    expect(llmChoice(c)).toBe('none');
  });

  it('with both models pulled into <dataDir>/models, npm start uses them', () => {
    const dataDir = join(root, 'pulled');
    fakePull(join(dataDir, 'models'), 'smollm2');
    fakePull(join(dataDir, 'models'), 'minilm');
    const c = loadConfig({}, { dataDir });
    expect(embedderChoice(c)).toBe('onnx');
    expect(onnxModelDirOf(c)).toBe(join(dataDir, 'models', 'all-MiniLM-L6-v2-onnx-int8'));
    expect(llmChoice(c)).toBe('local');
    expect(localLlmGguf(c)).toBe(join(dataDir, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf'));
    expect(localLlmModelId(c)).toBe('SmolLM2-135M-Instruct.Q4_1');
    // and the local model's settings are taken there, not refused
    expect(loadConfig({ TRIBUTARY_LLM_THREADS: '1' }, { dataDir }).llmThreads).toBe(1);
  });

  it('TRIBUTARY_MODELS_DIR moves the directory; a truncated file is not a model', () => {
    const modelsDir = join(root, 'elsewhere');
    fakePull(modelsDir, 'smollm2');
    const c = loadConfig({ TRIBUTARY_MODELS_DIR: modelsDir }, { dataDir: join(root, 'empty') });
    expect(llmChoice(c)).toBe('local');
    truncateSync(join(modelsDir, 'SmolLM2-135M-Instruct.Q4_1.gguf'), 1000);
    expect(llmChoice(loadConfig({ TRIBUTARY_MODELS_DIR: modelsDir }, { dataDir: join(root, 'empty') }))).toBe('none');
  });

  it('what is set wins over what is pulled; TRIBUTARY_LLM_GGUF=off turns the local model off', () => {
    const dataDir = join(root, 'pulled');
    expect(llmChoice(loadConfig({ TRIBUTARY_LLM_BASE_URL: 'http://127.0.0.1:9/v1', TRIBUTARY_LLM_MODEL: 'm' }, { dataDir }))).toBe('openai');
    expect(localLlmGguf(loadConfig({ TRIBUTARY_LLM_BASE_URL: 'http://127.0.0.1:9/v1', TRIBUTARY_LLM_MODEL: 'm' }, { dataDir }))).toBeNull();
    expect(llmChoice(loadConfig({ TRIBUTARY_LLM_GGUF: 'off' }, { dataDir }))).toBe('none');
    expect(() => loadConfig({ TRIBUTARY_LLM_GGUF: 'off', TRIBUTARY_LLM_THREADS: '2' }, { dataDir })).toThrow(/TRIBUTARY_LLM_THREADS.*no effect.*local LLM/s);
    expect(embedderChoice(loadConfig({ TRIBUTARY_EMBEDDER: 'hashing' }, { dataDir }))).toBe('hashing');
  });

  it('TRIBUTARY_LLM_UPSTREAM naming the pulled model loads it; naming another leaves it unloaded', () => {
    const dataDir = join(root, 'pulled');
    const named = loadConfig({ TRIBUTARY_LLM_UPSTREAM: 'SmolLM2-135M-Instruct.Q4_1' }, { dataDir });
    expect(localLlmGguf(named)).toBe(join(dataDir, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf'));
    expect(llmChoice(named)).toBe('upstream');
    const other = loadConfig({ TRIBUTARY_LLM_UPSTREAM: 'm', TRIBUTARY_INFERENCE_UPSTREAMS: JSON.stringify([{ name: 'gpu', url: 'http://127.0.0.1:9', models: ['m'] }]) }, { dataDir });
    expect(localLlmGguf(other)).toBeNull();
  });

  it('the local model can be the RAG LLM by name (TRIBUTARY_LLM_UPSTREAM) next to remote upstreams', () => {
    const gguf = join(root, 'pulled', 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
    const c = loadConfig({ TRIBUTARY_LLM_GGUF: gguf, TRIBUTARY_LLM_LOCAL_MODEL: 'tiny', TRIBUTARY_LLM_UPSTREAM: 'tiny' }, { dataDir: join(root, 'empty') });
    expect(llmChoice(c)).toBe('upstream');
    expect(localLlmModelId(c)).toBe('tiny');
    expect(() => loadConfig({ TRIBUTARY_LLM_GGUF: gguf, TRIBUTARY_LLM_UPSTREAM: 'other' }, { dataDir: join(root, 'empty') }))
      .toThrow(/no upstream.*serves model "other".*known: SmolLM2-135M-Instruct\.Q4_1/s);
  });

  describeWith(ONNX_MODEL_NEED, 'with the pulled ONNX model', () => it('an index built with another embedder, after a pull switched to ONNX, names the pulled model and the way back', async () => {
    const dataDir = join(root, 'switched');
    const closers: Array<() => Promise<void> | void> = [];
    const closeAll = async () => { for (const c of closers.splice(0).reverse()) await c(); };
    const before = await openIndexing(loadConfig({}, { dataDir }), closers);
    expect(before.embedder.id).toMatch(/^hashing/);
    await closeAll();
    mkdirSync(join(dataDir, 'models'), { recursive: true });
    symlinkSync(ONNX_MODEL, join(dataDir, 'models', 'all-MiniLM-L6-v2-onnx-int8'));
    await expect(openIndexing(loadConfig({}, { dataDir }), closers)).rejects.toMatchObject({
      code: 'INDEX_REJECTED',
      message: expect.stringMatching(/holds 256-dimension vectors.*the embedder is onnx:.*384 dimensions.*models pull minilm.*TRIBUTARY_EMBEDDER=hashing/s),
    });
    await closeAll();
  }, 60_000));
});
