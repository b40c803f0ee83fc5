import type { Embedder, EmbedderCapabilities } from '../../../ports/embedder.ts';
import { TributaryError } from '../../../ports/errors.ts';

/**
 * Deterministic, offline feature-hashing embedder: the default when no model is configured.
 *
 * Features: lower-cased word unigrams and bigrams (and optionally character trigrams of each word),
 * hashed with 32-bit FNV-1a (finalised with murmur3's fmix32) into `dimension` buckets with a sign
 * bit (signed hashing keeps collisions unbiased), weighted by sublinear term frequency
 * (1 + ln tf), then L2-normalised. Texts that share words and phrases get a high cosine; texts
 * that share nothing get about 0. It knows no synonyms: it is a lexical embedder.
 *
 * Tokenisation is Unicode-aware: the text is NFKC-normalised and lower-cased; a word is a run of letters, digits and combining marks
 * (\p{L}\p{N}\p{M}); everything else, apostrophes and underscores included, separates words. Han, Hiragana
 * and Katakana characters are words of their own (those scripts have no spaces), so their
 * unigrams and bigrams are character unigrams and bigrams.
 *
 * The scan works on UTF-16 code units with typed-array scratch space and allocates no
 * substrings, so one core embeds tens of thousands of 150-word chunks a second.
 */

export interface HashingEmbedderOptions {
  /** Number of buckets (vector length). Default 256. */
  dimension?: number;
  /** Also hash character trigrams of each word (with word-boundary markers). Default false. */
  charTrigrams?: boolean;
  /** Most texts in one call. Default 4096 (the embedder has no real limit). */
  maxBatch?: number;
}

/** Feature weights before tf weighting: phrases and sub-word pieces count less than whole words. */
const UNIGRAM_WEIGHT = 1;
const BIGRAM_WEIGHT = 0.5;
const TRIGRAM_WEIGHT = 0.5;

/** Seeds keep the three feature families in separate hash spaces. */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const BIGRAM_SEED = 0x9e3779b9;
const TRIGRAM_SEED = 0x7f4a7c15;
const EMPTY_SEED = 0x2545f491;

/** Character classes. */
const SEP = 1;
const WORD = 2;
/** A character that is a word by itself (ideographs, kana). */
const SOLO = 3;

/** Class of every BMP code unit, filled lazily (0 = not yet known). 64 KiB, shared. */
const bmpClass = new Uint8Array(0x10000);
const astralClass = new Map<number, number>();
const WORD_RE = /^[\p{L}\p{N}\p{M}]$/u;
const SOLO_RE = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]$/u;

for (let c = 0; c < 128; c++) {
  const isWord = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  bmpClass[c] = isWord ? WORD : SEP;
}

function classifyCodePoint(cp: number): number {
  const ch = String.fromCodePoint(cp);
  if (SOLO_RE.test(ch)) return SOLO;
  return WORD_RE.test(ch) ? WORD : SEP;
}

function bmpClassOf(cu: number): number {
  let k = bmpClass[cu]!;
  if (k === 0) {
    // lone surrogates are handled by the caller; anything else is classified once
    k = classifyCodePoint(cu);
    bmpClass[cu] = k;
  }
  return k;
}

function astralClassOf(cp: number): number {
  let k = astralClass.get(cp);
  if (k === undefined) {
    k = classifyCodePoint(cp);
    astralClass.set(cp, k);
  }
  return k;
}

/** murmur3 32-bit finaliser: spreads every input bit over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function fnv1a(s: string, start: number, end: number, seed: number): number {
  let h = seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

export class HashingEmbedder implements Embedder {
  readonly id: string;
  readonly capabilities: EmbedderCapabilities;
  private readonly dimension: number;
  private readonly charTrigrams: boolean;

  // Scratch space reused across texts: word boundaries and hashes, and an open-addressing
  // table from feature hash to count. `gen` marks the slots used by the current text, so the
  // table is never cleared.
  private wordStart = new Int32Array(256);
  private wordEnd = new Int32Array(256);
  private wordHash = new Int32Array(256);
  private keys = new Int32Array(1024);
  private counts = new Float64Array(1024);
  private weights = new Float64Array(1024);
  private gen = new Uint32Array(1024);
  private used = new Int32Array(512);
  private usedCount = 0;
  private generation = 0;
  private mask = 1023;

  constructor(options: HashingEmbedderOptions = {}) {
    const dimension = options.dimension ?? 256;
    if (!Number.isInteger(dimension) || dimension < 2 || dimension > 1 << 20) {
      throw new TributaryError('INVALID_CONFIG', `hashing embedder dimension must be an integer in [2, 1048576], got ${dimension}`);
    }
    const maxBatch = options.maxBatch ?? 4096;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new TributaryError('INVALID_CONFIG', `hashing embedder maxBatch must be a positive integer, got ${maxBatch}`);
    }
    this.dimension = dimension;
    this.charTrigrams = options.charTrigrams ?? false;
    this.id = `hashing-v1-d${dimension}${this.charTrigrams ? '-c3' : ''}`;
    this.capabilities = Object.freeze({ dimension, maxBatch, maxInputTokens: 1_000_000, normalized: true, cheaperThanCache: true });
  }

  embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (signal?.aborted) {
      return Promise.reject(new TributaryError('SHUTTING_DOWN', 'embedding aborted by the caller', { cause: signal.reason }));
    }
    const out = new Array<Float32Array>(texts.length);
    for (let i = 0; i < texts.length; i++) out[i] = this.embedOne(texts[i]!);
    return Promise.resolve(out);
  }

  /** Embeds one text synchronously (what `embed` does for each text). */
  embedOne(text: string): Float32Array {
    const vec = new Float32Array(this.dimension);
    const s = text.normalize('NFKC').toLowerCase();
    this.beginText(s.length);
    const words = this.scanWords(s);
    const wordHash = this.wordHash;

    for (let w = 0; w < words; w++) {
      const h = wordHash[w]!;
      this.addFeature(h, UNIGRAM_WEIGHT);
      if (w > 0) this.addFeature(fmix32(Math.imul(wordHash[w - 1]!, FNV_PRIME) ^ h ^ BIGRAM_SEED), BIGRAM_WEIGHT);
    }
    if (this.charTrigrams) {
      for (let w = 0; w < words; w++) this.addTrigrams(s, this.wordStart[w]!, this.wordEnd[w]!);
    }
    if (this.usedCount === 0) {
      // no word at all (empty, or only punctuation): one feature for the raw text, so the
      // vector is still unit-length and identical texts still match
      this.addFeature(fmix32(fnv1a(text, 0, text.length, EMPTY_SEED)), UNIGRAM_WEIGHT);
    }

    const dim = this.dimension;
    const keys = this.keys;
    const counts = this.counts;
    const weights = this.weights;
    const used = this.used;
    for (let u = 0; u < this.usedCount; u++) {
      const slot = used[u]!;
      const h = keys[slot]!;
      const value = (1 + Math.log(counts[slot]!)) * weights[slot]!;
      const index = (h & 0x7fffffff) % dim;
      vec[index]! += h < 0 ? -value : value;
    }

    let norm = 0;
    for (let i = 0; i < dim; i++) norm += vec[i]! * vec[i]!;
    if (norm > 0) {
      const inv = 1 / Math.sqrt(norm);
      for (let i = 0; i < dim; i++) vec[i]! *= inv;
    } else {
      // every feature cancelled out in its bucket (vanishingly rare): fall back to a fixed unit vector
      vec[(fmix32(fnv1a(text, 0, text.length, EMPTY_SEED)) & 0x7fffffff) % dim] = 1;
    }
    return vec;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Finds the words of `s`, fills wordStart/wordEnd/wordHash and returns how many there are. */
  private scanWords(s: string): number {
    const n = s.length;
    let count = 0;
    let start = -1;
    let h = FNV_OFFSET;
    let i = 0;
    while (i < n) {
      const cu = s.charCodeAt(i);
      let width = 1;
      let k: number;
      if (cu < 0xd800 || cu > 0xdfff) {
        k = cu < 128 ? bmpClass[cu]! : bmpClassOf(cu);
      } else if (cu <= 0xdbff && i + 1 < n) {
        const lo = s.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          width = 2;
          k = astralClassOf(((cu - 0xd800) << 10) + (lo - 0xdc00) + 0x10000);
        } else {
          k = SEP;
        }
      } else {
        k = SEP;
      }

      if (k === WORD) {
        if (start < 0) { start = i; h = FNV_OFFSET; }
        h = Math.imul(h ^ cu, FNV_PRIME);
        if (width === 2) h = Math.imul(h ^ s.charCodeAt(i + 1), FNV_PRIME);
      } else {
        if (start >= 0) { count = this.pushWord(count, start, i, h); start = -1; }
        if (k === SOLO) {
          let sh = Math.imul(FNV_OFFSET ^ cu, FNV_PRIME);
          if (width === 2) sh = Math.imul(sh ^ s.charCodeAt(i + 1), FNV_PRIME);
          count = this.pushWord(count, i, i + width, sh);
        }
      }
      i += width;
    }
    if (start >= 0) count = this.pushWord(count, start, n, h);
    return count;
  }

  private pushWord(count: number, start: number, end: number, h: number): number {
    if (count === this.wordHash.length) {
      const size = count * 2;
      this.wordStart = grow(this.wordStart, size);
      this.wordEnd = grow(this.wordEnd, size);
      this.wordHash = grow(this.wordHash, size);
    }
    this.wordStart[count] = start;
    this.wordEnd[count] = end;
    this.wordHash[count] = fmix32(h);
    return count + 1;
  }

  /** Character trigrams of one word, with '<' and '>' as boundary markers ("cat" → <ca, cat, at>). */
  private addTrigrams(s: string, start: number, end: number): void {
    const len = end - start + 2;
    if (len < 3) return;
    for (let j = 0; j + 3 <= len; j++) {
      let h = TRIGRAM_SEED;
      for (let t = j; t < j + 3; t++) {
        const c = t === 0 ? 60 /* < */ : t === len - 1 ? 62 /* > */ : s.charCodeAt(start + t - 1);
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      this.addFeature(fmix32(h), TRIGRAM_WEIGHT);
    }
  }

  /** Prepares the feature table for a text of `length` code units. */
  private beginText(length: number): void {
    // features ≤ 2 per code unit (unigram + bigram) + trigrams ≤ 3 per code unit; keep load ≤ 1/2
    const maxFeatures = (this.charTrigrams ? 5 : 2) * length + 1;
    if (maxFeatures * 2 > this.keys.length) {
      let size = this.keys.length;
      while (size < maxFeatures * 2) size *= 2;
      this.keys = new Int32Array(size);
      this.counts = new Float64Array(size);
      this.weights = new Float64Array(size);
      this.gen = new Uint32Array(size);
      this.used = new Int32Array(size >>> 1);
      this.mask = size - 1;
      this.generation = 0;
    }
    this.generation++;
    if (this.generation === 0xffffffff) {
      this.gen.fill(0);
      this.generation = 1;
    }
    this.usedCount = 0;
  }

  private addFeature(h: number, weight: number): void {
    const mask = this.mask;
    const keys = this.keys;
    const gen = this.gen;
    const g = this.generation;
    let slot = h & mask;
    while (gen[slot] === g) {
      if (keys[slot] === h) {
        this.counts[slot]! += 1;
        return;
      }
      slot = (slot + 1) & mask;
    }
    gen[slot] = g;
    keys[slot] = h;
    this.counts[slot] = 1;
    this.weights[slot] = weight;
    this.used[this.usedCount++] = slot;
  }
}

function grow(a: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}
