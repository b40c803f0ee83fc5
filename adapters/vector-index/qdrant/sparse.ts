/**
 * Client-side sparse vectors for Qdrant's keyword side: BM25 split between client and server.
 *
 * - Words: NFKD-normalised, diacritics removed (so "café" matches "cafe"), lower-cased runs of
 *   letters and digits, at most 64 characters (like the embedded index's FTS5 unicode61 tokenizer,
 *   without stemming).
 * - Index: 32-bit FNV-1a hash of the word (collisions at this vocabulary size are negligible and
 *   only ever merge two words' weights).
 * - Document value: BM25's term-frequency part, tf·(k1+1) / (tf + k1·(1 − b + b·len/avgLen)), with a
 *   fixed average length (the client cannot know the collection's).
 * - Query value: 1 per distinct word.
 * - IDF: applied by Qdrant (collection created with `modifier: "idf"`), so dot product = BM25.
 */

export interface SparseVector {
  indices: number[];
  values: number[];
}

const K1 = 1.2;
const B = 0.75;
/** Typical chunk length in words (chunks are ~256 tokens). */
const AVG_LEN = 200;
const MAX_TERM_LENGTH = 64;
const MAX_QUERY_TERMS = 32;
const WORD = /[\p{L}\p{N}]+/gu;
const MARKS = /\p{M}+/gu;

export function sparseTerms(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKD').replace(MARKS, '').toLowerCase().matchAll(WORD)) {
    if (m[0].length <= MAX_TERM_LENGTH) out.push(m[0]);
  }
  return out;
}

/** 32-bit FNV-1a over the UTF-16 code units of `term`, as an unsigned integer (Qdrant indices are u32). */
export function termIndex(term: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < term.length; i++) {
    h ^= term.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function toVector(weights: Map<number, number>): SparseVector {
  const indices = [...weights.keys()].sort((a, b) => a - b);
  return { indices, values: indices.map((i) => weights.get(i)!) };
}

/** The stored sparse vector of a chunk's text (empty when it has no words). */
export function documentSparseVector(text: string): SparseVector {
  const terms = sparseTerms(text);
  const tf = new Map<number, number>();
  for (const t of terms) {
    const i = termIndex(t);
    tf.set(i, (tf.get(i) ?? 0) + 1);
  }
  const norm = K1 * (1 - B + (B * terms.length) / AVG_LEN);
  const weights = new Map<number, number>();
  for (const [i, f] of tf) weights.set(i, (f * (K1 + 1)) / (f + norm));
  return toVector(weights);
}

/** The query's sparse vector: each distinct word once (empty when it has no words). */
export function querySparseVector(text: string): SparseVector {
  const weights = new Map<number, number>();
  for (const t of sparseTerms(text)) {
    if (weights.size >= MAX_QUERY_TERMS) break;
    weights.set(termIndex(t), 1);
  }
  return toVector(weights);
}
