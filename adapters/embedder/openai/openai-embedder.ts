import type OpenAI from 'openai';
import type { Embedder, EmbedderCapabilities } from '../../../ports/embedder.ts';
import { TributaryError } from '../../../ports/errors.ts';
import { createOpenAiClient } from '../../openai-compatible/openai-client.ts';
import { withRetries, type RetryPolicy } from '../../openai-compatible/retry.ts';
import { toUpstreamError } from '../../openai-compatible/upstream-error.ts';

export interface OpenAiEmbedderOptions {
  /** Base URL of any OpenAI-compatible embeddings API (OpenAI, TEI, vLLM, Ollama), e.g. http://127.0.0.1:8080/v1. */
  baseUrl: string;
  /** Omit for servers without authentication. */
  apiKey?: string | undefined;
  model: string;
  /**
   * Vector length. When omitted it is taken from a table of well-known OpenAI models, or else
   * learned from the first response (capabilities.dimension is 0 until then). Every response is
   * checked against it.
   */
  dimension?: number | undefined;
  /** Send `dimensions` in the request (shortened OpenAI text-embedding-3 vectors, Matryoshka models). Default false. */
  requestDimensions?: boolean | undefined;
  /** Most texts in one request. */
  maxBatch: number;
  /** Longest input the model accepts, in tokens. Default 8191 (the OpenAI models). */
  maxInputTokens?: number | undefined;
  /** Per-request time limit. */
  timeoutMs: number;
  /** Retries of a rate-limited or failed request (429, 408, 409, 5xx, connection errors, timeouts). */
  maxRetries: number;
  /** First retry back-off. Default 250 ms. */
  retryBaseMs?: number | undefined;
  /** Longest back-off, and the longest Retry-After honoured in-process (longer ones are thrown). Default 30 s. */
  retryMaxMs?: number | undefined;
}

/** Output sizes of OpenAI's own models, so capabilities are right before the first call. */
const KNOWN_DIMENSIONS: Record<string, number> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

/**
 * Embedder over the official `openai` SDK, for any OpenAI-compatible endpoint. Requests ask for
 * `encoding_format: 'float'` (TEI and Ollama do not all speak base64; a base64 answer is still
 * decoded). Vectors are checked (count, index, dimension, finite values) and L2-normalised.
 * Nothing is requested at construction: no probe string is ever embedded.
 */
export class OpenAiEmbedder implements Embedder {
  readonly id: string;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly requestDimensions: boolean;
  private readonly retry: RetryPolicy;
  private readonly what: string;
  private readonly maxBatch: number;
  private readonly maxInputTokens: number;
  private dimension: number | undefined;

  constructor(options: OpenAiEmbedderOptions) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new TributaryError('INVALID_CONFIG', `OpenAI embedder maxBatch must be a positive integer, got ${options.maxBatch}`);
    }
    if (options.dimension !== undefined && (!Number.isInteger(options.dimension) || options.dimension < 1)) {
      throw new TributaryError('INVALID_CONFIG', `OpenAI embedder dimension must be a positive integer, got ${options.dimension}`);
    }
    if (options.requestDimensions && options.dimension === undefined) {
      throw new TributaryError('INVALID_CONFIG', 'OpenAI embedder requestDimensions needs a dimension');
    }
    this.client = createOpenAiClient(options);
    this.model = options.model;
    this.requestDimensions = options.requestDimensions ?? false;
    this.dimension = options.dimension ?? KNOWN_DIMENSIONS[options.model];
    this.maxBatch = options.maxBatch;
    this.maxInputTokens = options.maxInputTokens ?? 8191;
    this.retry = { maxRetries: options.maxRetries, baseMs: options.retryBaseMs ?? 250, maxMs: options.retryMaxMs ?? 30_000 };
    this.what = `embeddings request to ${options.baseUrl} (model ${options.model})`;
    // a shortened vector is a different vector: it must not share cache entries with the full one
    this.id = this.requestDimensions ? `openai:${options.model}:d${options.dimension}` : `openai:${options.model}`;
  }

  /** Capabilities as known now: `dimension` is 0 until the first response when it was neither configured nor well known. */
  get capabilities(): EmbedderCapabilities {
    return { dimension: this.dimension ?? 0, maxBatch: this.maxBatch, maxInputTokens: this.maxInputTokens, normalized: true };
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.maxBatch) {
      const batch = texts.slice(i, i + this.maxBatch);
      const vectors = await withRetries(() => this.request(batch, signal), this.retry, (e) => toUpstreamError(e, 'EMBEDDER', this.what, signal), signal);
      for (const v of vectors) out.push(v);
    }
    return out;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private async request(texts: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    const body: OpenAI.EmbeddingCreateParams = { model: this.model, input: texts, encoding_format: 'float' };
    if (this.requestDimensions) body.dimensions = this.dimension;
    const res = await this.client.embeddings.create(body, { signal });
    const data: unknown = (res as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length !== texts.length) {
      const got = Array.isArray(data) ? `${data.length} embeddings` : 'no embedding list';
      throw new TributaryError('EMBEDDER_REJECTED', `${this.what} returned ${got} for ${texts.length} inputs`, { retryable: false });
    }
    const out = new Array<Float32Array | undefined>(texts.length);
    for (let j = 0; j < data.length; j++) {
      const item = data[j] as { index?: unknown; embedding?: unknown };
      const index = typeof item.index === 'number' ? item.index : j;
      if (!Number.isInteger(index) || index < 0 || index >= texts.length || out[index] !== undefined) {
        throw new TributaryError('EMBEDDER_REJECTED', `${this.what} returned an embedding with a bad or repeated index ${String(item.index)}`, { retryable: false });
      }
      out[index] = this.toVector(item.embedding, index);
    }
    return out as Float32Array[];
  }

  private toVector(raw: unknown, index: number): Float32Array {
    let v: Float32Array;
    if (Array.isArray(raw)) {
      v = Float32Array.from(raw as number[]);
    } else if (typeof raw === 'string') {
      // a server that ignored encoding_format and answered base64 (little-endian float32)
      const bytes = Buffer.from(raw, 'base64');
      if (bytes.byteLength % 4 !== 0) throw new TributaryError('EMBEDDER_REJECTED', `${this.what} returned an undecodable base64 embedding at index ${index}`, { retryable: false });
      v = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(v.buffer).set(bytes);
    } else {
      throw new TributaryError('EMBEDDER_REJECTED', `${this.what} returned no embedding at index ${index}`, { retryable: false });
    }
    if (this.dimension === undefined) this.dimension = v.length;
    if (v.length !== this.dimension) {
      throw new TributaryError('EMBEDDER_DIMENSION_MISMATCH', `${this.what} returned a ${v.length}-dimensional vector at index ${index}, expected ${this.dimension}`, {
        details: { expected: this.dimension, got: v.length },
      });
    }
    let norm = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (!Number.isFinite(x)) throw new TributaryError('EMBEDDER_REJECTED', `${this.what} returned a non-finite value in the embedding at index ${index}`, { retryable: false });
      norm += x * x;
    }
    if (norm === 0) throw new TributaryError('EMBEDDER_REJECTED', `${this.what} returned a zero vector at index ${index}`, { retryable: false });
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < v.length; i++) v[i]! *= inv;
    return v;
  }
}
