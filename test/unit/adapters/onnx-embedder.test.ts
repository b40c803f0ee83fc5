import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxEmbedder } from '../../../adapters/embedder/onnx/onnx-embedder.ts';
import { findTributaryError } from '../../../ports/errors.ts';
import { describeWith } from '../../helpers/ci.ts';
import { ONNX_MODEL_DIR, ONNX_MODEL_NEED } from '../../helpers/onnx-model.ts';

/** The real-model tests run on the model in test/helpers/onnx-model.ts (all-MiniLM-L6-v2, int8 ONNX; `npm test` pulls it). */
const MODEL_DIR = ONNX_MODEL_DIR;

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return findTributaryError(e)?.code;
  }
  return undefined;
}

async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return findTributaryError(e)?.code;
  }
  return undefined;
}

describe('OnnxEmbedder: model directory checks (no model needed)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-onnx-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing directory or missing files fail at construction with MODEL_LOAD_FAILED', () => {
    expect(codeOf(() => new OnnxEmbedder({ modelDir: join(dir, 'nope') }))).toBe('MODEL_LOAD_FAILED');
    const d = join(dir, 'partial');
    mkdirSync(d);
    writeFileSync(join(d, 'config.json'), JSON.stringify({ hidden_size: 8 }));
    expect(codeOf(() => new OnnxEmbedder({ modelDir: d }))).toBe('MODEL_LOAD_FAILED');
  });

  it('reads dimension, input limit and pooling from the directory, without loading the model', () => {
    const d = join(dir, 'meta');
    mkdirSync(join(d, 'onnx'), { recursive: true });
    mkdirSync(join(d, '1_Pooling'));
    writeFileSync(join(d, 'config.json'), JSON.stringify({ hidden_size: 16, max_position_embeddings: 512 }));
    writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 1e30 }));
    writeFileSync(join(d, 'tokenizer.json'), '{}');
    writeFileSync(join(d, 'onnx', 'model.onnx'), 'not a model');
    const e = new OnnxEmbedder({ modelDir: d });
    expect(e.id).toBe('onnx:meta');
    expect(e.capabilities).toEqual({ dimension: 16, maxBatch: 32, maxInputTokens: 512, normalized: true });
  });

  it('a corrupt model file fails on load with MODEL_LOAD_FAILED (never a download)', async () => {
    const d = join(dir, 'corrupt');
    mkdirSync(join(d, 'onnx'), { recursive: true });
    writeFileSync(join(d, 'config.json'), JSON.stringify({ model_type: 'bert', hidden_size: 16 }));
    writeFileSync(join(d, 'tokenizer.json'), '{}');
    writeFileSync(join(d, 'onnx', 'model.onnx'), 'not a model');
    const e = new OnnxEmbedder({ modelDir: d });
    expect(await codeOfAsync(e.embed(['x']))).toBe('MODEL_LOAD_FAILED');
    await e.close();
  });
});

describeWith(ONNX_MODEL_NEED, 'OnnxEmbedder with a real all-MiniLM-L6-v2 model', () => {
  let e: OnnxEmbedder;
  beforeAll(async () => {
    e = new OnnxEmbedder({ modelDir: MODEL_DIR, maxBatch: 4 });
    await e.load();
  });
  afterAll(async () => {
    await e?.close();
  });

  it('has the model\'s capabilities', () => {
    expect(e.capabilities).toEqual({ dimension: 384, maxBatch: 4, maxInputTokens: 256, normalized: true });
    expect(e.id).toBe('onnx:all-MiniLM-L6-v2-onnx-int8');
  });

  it('returns normalised 384-dimensional vectors, in order, across several batches', async () => {
    const texts = Array.from({ length: 9 }, (_, i) => `sentence number ${i} about streaming ingestion`);
    const vs = await e.embed(texts);
    expect(vs).toHaveLength(9);
    for (const v of vs) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v).toHaveLength(384);
      expect(Math.sqrt(cosine(v, v))).toBeCloseTo(1, 4);
    }
    const [alone] = await e.embed([texts[6]!]);
    expect(cosine(alone!, vs[6]!)).toBeGreaterThan(0.9999);
  });

  it('scores a paraphrase higher than an unrelated sentence', async () => {
    const [q, para, other] = await e.embed([
      'How do I reset my password?',
      'What are the steps to change a forgotten password?',
      'The recipe calls for two cups of flour and a pinch of salt.',
    ]);
    const sPara = cosine(q!, para!);
    const sOther = cosine(q!, other!);
    expect(sPara).toBeGreaterThan(0.5);
    expect(sOther).toBeLessThan(0.2);
    expect(sPara).toBeGreaterThan(sOther + 0.3);
  });

  it('knows synonyms the hashing embedder cannot', async () => {
    const [a, b] = await e.embed(['A man is eating food.', 'Someone is having a meal.']);
    expect(cosine(a!, b!)).toBeGreaterThan(0.4);
  });
});
