import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { FeatureExtractionPipeline } from '@huggingface/transformers';
import type { Embedder, EmbedderCapabilities } from '../../../ports/embedder.ts';
import { TributaryError } from '../../../ports/errors.ts';

/** ONNX weight variants transformers.js knows, and the file each one loads from `<modelDir>/onnx/`. */
export type OnnxDtype = 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'bnb4' | 'q4f16';
const DTYPE_FILE: Record<OnnxDtype, string> = {
  fp32: 'model.onnx',
  fp16: 'model_fp16.onnx',
  q8: 'model_quantized.onnx',
  int8: 'model_int8.onnx',
  uint8: 'model_uint8.onnx',
  q4: 'model_q4.onnx',
  bnb4: 'model_bnb4.onnx',
  q4f16: 'model_q4f16.onnx',
};

export interface OnnxEmbedderOptions {
  /**
   * A model directory on disk, in the Hugging Face layout: config.json, tokenizer.json,
   * tokenizer_config.json and onnx/model.onnx (or the file for `dtype`). Nothing is downloaded.
   */
  modelDir: string;
  /** Which ONNX file to load (see DTYPE_FILE). Default 'fp32' (onnx/model.onnx). */
  dtype?: OnnxDtype | undefined;
  /** Pooling of the token vectors. Default: from 1_Pooling/config.json when present, else 'mean'. */
  pooling?: 'mean' | 'cls' | undefined;
  /** Most texts in one call (one padded batch per call). Default 32. */
  maxBatch?: number | undefined;
  /** Model id: part of the embedding-cache key. Default `onnx:<directory name>`. */
  id?: string | undefined;
  /** onnxruntime intra-op threads. Default: the runtime's choice. */
  threads?: number | undefined;
}

type Transformers = typeof import('@huggingface/transformers');

/**
 * Local sentence embedder: a transformer exported to ONNX, run by onnxruntime-node through
 * `@huggingface/transformers` (feature-extraction pipeline, pooling, L2 normalisation).
 *
 * The constructor only reads the directory's small JSON files (to know the dimension and input
 * limit, and to fail early on a wrong directory). The library and the model are loaded on first
 * use or by `load()`, with a dynamic import, so the rest of the system never pays for them.
 * Remote models are switched off: a missing file is MODEL_LOAD_FAILED, never a download.
 */
export class OnnxEmbedder implements Embedder {
  readonly id: string;
  readonly capabilities: EmbedderCapabilities;
  private readonly modelDir: string;
  private readonly dtype: OnnxDtype;
  private readonly pooling: 'mean' | 'cls';
  private readonly threads: number | undefined;
  private pipe: Promise<FeatureExtractionPipeline> | undefined;
  private closed = false;

  constructor(options: OnnxEmbedderOptions) {
    const modelDir = resolve(options.modelDir);
    const dtype = options.dtype ?? 'fp32';
    const config = readJson(modelDir, 'config.json', true) as { hidden_size?: unknown; d_model?: unknown; dim?: unknown; max_position_embeddings?: unknown };
    for (const file of ['tokenizer.json', join('onnx', DTYPE_FILE[dtype])]) {
      if (!existsSync(join(modelDir, file))) {
        throw new TributaryError('MODEL_LOAD_FAILED', `ONNX model directory ${modelDir} has no ${file} (expected config.json, tokenizer.json and onnx/${DTYPE_FILE[dtype]})`);
      }
    }
    const dimension = firstInt(config.hidden_size, config.d_model, config.dim);
    if (dimension === undefined) {
      throw new TributaryError('MODEL_LOAD_FAILED', `${join(modelDir, 'config.json')} names no hidden_size: cannot tell the embedding dimension`);
    }
    const tokenizerConfig = readJson(modelDir, 'tokenizer_config.json', false) as { model_max_length?: unknown } | undefined;
    const sbertConfig = readJson(modelDir, 'sentence_bert_config.json', false) as { max_seq_length?: unknown } | undefined;
    const maxInputTokens = firstInt(sbertConfig?.max_seq_length, saneLength(tokenizerConfig?.model_max_length), config.max_position_embeddings) ?? 512;
    const poolingConfig = readJson(modelDir, join('1_Pooling', 'config.json'), false) as { pooling_mode_cls_token?: unknown } | undefined;
    const maxBatch = options.maxBatch ?? 32;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new TributaryError('INVALID_CONFIG', `ONNX embedder maxBatch must be a positive integer, got ${maxBatch}`);
    }

    this.modelDir = modelDir;
    this.dtype = dtype;
    this.pooling = options.pooling ?? (poolingConfig?.pooling_mode_cls_token === true ? 'cls' : 'mean');
    this.threads = options.threads;
    this.id = options.id ?? `onnx:${basename(modelDir)}${dtype === 'fp32' ? '' : `:${dtype}`}`;
    this.capabilities = Object.freeze({ dimension, maxBatch, maxInputTokens, normalized: true });
  }

  /** Loads the library and the model now (e.g. at start-up, to fail fast); otherwise the first `embed` does. */
  async load(): Promise<void> {
    await this.pipeline();
  }

  /**
   * One inference at a time: concurrent runs on a CPU-bound model only oversubscribe the cores
   * (several partitions' batches arriving together would otherwise run side by side).
   */
  private tail: Promise<unknown> = Promise.resolve();
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    if (texts.length === 0) return out;
    const pipe = await this.pipeline();
    const { dimension, maxBatch } = this.capabilities;
    for (let i = 0; i < texts.length; i += maxBatch) {
      if (signal?.aborted) throw new TributaryError('SHUTTING_DOWN', 'embedding aborted by the caller', { cause: signal.reason });
      const batch = texts.slice(i, i + maxBatch);
      let data: Float32Array;
      let dims: number[];
      try {
        const tensor = await this.exclusive(() => pipe(batch, { pooling: this.pooling, normalize: true }));
        dims = tensor.dims;
        data = tensor.data as Float32Array;
      } catch (e) {
        throw new TributaryError('EMBEDDER_REJECTED', `ONNX model ${this.id} failed on a batch of ${batch.length}: ${(e as Error).message}`, { cause: e, retryable: false });
      }
      if (dims.length !== 2 || dims[0] !== batch.length || dims[1] !== dimension) {
        throw new TributaryError('EMBEDDER_DIMENSION_MISMATCH', `ONNX model ${this.id} produced a [${dims.join(', ')}] tensor, expected [${batch.length}, ${dimension}]`);
      }
      for (let j = 0; j < batch.length; j++) out.push(data.slice(j * dimension, (j + 1) * dimension));
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pipe = this.pipe;
    this.pipe = undefined;
    if (pipe) await (await pipe.catch(() => undefined))?.dispose();
  }

  private pipeline(): Promise<FeatureExtractionPipeline> {
    if (this.closed) return Promise.reject(new TributaryError('SHUTTING_DOWN', `ONNX embedder ${this.id} is closed`));
    if (!this.pipe) {
      const p = loadPipeline(this.modelDir, this.dtype, this.threads);
      // a failed load is not cached: the next call tries again (the files may have been fixed)
      p.catch(() => { if (this.pipe === p) this.pipe = undefined; });
      this.pipe = p;
    }
    return this.pipe;
  }
}

let transformers: Promise<Transformers> | undefined;
/** `env` is global to the library: loads take turns so each sees its own localModelPath. */
let loadQueue: Promise<unknown> = Promise.resolve();

function loadPipeline(modelDir: string, dtype: OnnxDtype, threads: number | undefined): Promise<FeatureExtractionPipeline> {
  const run = async (): Promise<FeatureExtractionPipeline> => {
    let lib: Transformers;
    try {
      transformers ??= import('@huggingface/transformers');
      lib = await transformers;
    } catch (e) {
      transformers = undefined;
      throw new TributaryError('MODEL_LOAD_FAILED', `the ONNX embedder needs the @huggingface/transformers package, which could not be loaded: ${(e as Error).message}`, { cause: e });
    }
    const { env, pipeline, LogLevel } = lib;
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dirname(modelDir);
    env.useFSCache = false;
    env.logLevel = LogLevel.ERROR;
    try {
      return await pipeline('feature-extraction', basename(modelDir), {
        dtype,
        device: 'cpu',
        local_files_only: true,
        session_options: threads === undefined ? undefined : { intraOpNumThreads: threads },
      });
    } catch (e) {
      throw new TributaryError('MODEL_LOAD_FAILED', `could not load the ONNX model in ${modelDir}: ${(e as Error).message}`, { cause: e });
    }
  };
  const result = loadQueue.then(run, run);
  loadQueue = result.catch(() => undefined);
  return result;
}

function readJson(dir: string, file: string, required: boolean): unknown {
  const path = join(dir, file);
  if (!existsSync(path)) {
    if (!required) return undefined;
    throw new TributaryError('MODEL_LOAD_FAILED', `ONNX model directory ${dir} has no ${file} (expected config.json, tokenizer.json and onnx/model.onnx)`);
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new TributaryError('MODEL_LOAD_FAILED', `${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

function firstInt(...values: unknown[]): number | undefined {
  for (const v of values) if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  return undefined;
}

/** tokenizer_config.json often says model_max_length = 1e30 meaning "no limit": ignore that. */
function saneLength(v: unknown): unknown {
  return typeof v === 'number' && v <= 1_000_000 ? v : undefined;
}
