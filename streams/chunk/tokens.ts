/**
 * Token counting for chunk budgets: cl100k_base (the encoding of OpenAI's text-embedding-3-* and
 * ada-002 models), via gpt-tokenizer. Text is only ever counted, never decoded from token slices:
 * the library decodes through one shared streaming TextDecoder, so decoding a slice that ends
 * inside a UTF-8 sequence would leak bytes into the next decode anywhere in the process.
 * Cutting is therefore done between the pre-tokenizer's pieces, guided by their counts.
 */
import { countTokens as countCl100k, isWithinTokenLimit } from 'gpt-tokenizer/encoding/cl100k_base';
import { CL100K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';

export const TOKENIZER_ENCODING = 'cl100k_base';

/** Special-token strings ("<|endoftext|>") in content are ordinary text, never control tokens or errors. */
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  // the sum of its pre-tokenizer pieces' counts (BPE never merges across them), each count memoised
  let n = 0;
  for (const m of text.matchAll(PIECES)) n += pieceTokens(m[0]);
  return n;
}

/** The encoder's own count of `text`, without the piece memo (what `countTokens` must always equal). */
export function countTokensUncached(text: string): number {
  return text.length === 0 ? 0 : countCl100k(text, AS_PLAIN_TEXT);
}

/** A text with its exact token count. */
export interface Counted {
  readonly text: string;
  readonly tokens: number;
}

/**
 * The token count of `text` if it is at most `limit`, else undefined. Long texts are counted
 * incrementally and abandoned as soon as they exceed the limit (an over-long block costs about
 * `limit` tokens of work, not its whole length).
 */
export function countWithin(text: string, limit: number): number | undefined {
  if (text.length <= limit * 4) {
    const n = countTokens(text);
    return n <= limit ? n : undefined;
  }
  const n = isWithinTokenLimit(text, limit, AS_PLAIN_TEXT);
  return n === false ? undefined : n;
}

/**
 * The encoding's own pre-tokenizer: BPE never merges across these pieces, so the token count of a
 * text is the sum of its pieces' counts, and cutting between pieces can only change the pieces
 * at the cut (split pieces are recounted as they will be used).
 */
// A private copy: the library's instance is shared (and stateful with the g flag).
const PIECES = new RegExp(CL100K_TOKEN_SPLIT_REGEX.source, CL100K_TOKEN_SPLIT_REGEX.flags.includes('g') ? CL100K_TOKEN_SPLIT_REGEX.flags : `${CL100K_TOKEN_SPLIT_REGEX.flags}g`);

interface CountedPiece {
  readonly start: number;
  readonly end: number;
  readonly tokens: number;
  /** Starts with whitespace: cutting before it does not cut a word. */
  readonly wordStart: boolean;
}

/**
 * Token counts of pre-tokenizer pieces seen lately. Words repeat (a text's pieces are mostly common
 * words), and a piece's count never depends on its neighbours, so a count found once is reused: most
 * pieces then cost one map lookup instead of a pass through the BPE encoder. Cleared when full.
 */
const pieceCounts = new Map<string, number>();
const PIECE_CACHE_LIMIT = 65_536;
/** Longer pieces are rare and cheap to miss; they are counted every time rather than cached. */
const PIECE_CACHE_MAX_CHARS = 32;

function pieceTokens(piece: string): number {
  if (piece.length > PIECE_CACHE_MAX_CHARS) return countTokensUncached(piece);
  let n = pieceCounts.get(piece);
  if (n === undefined) {
    n = countTokensUncached(piece);
    if (pieceCounts.size >= PIECE_CACHE_LIMIT) pieceCounts.clear();
    pieceCounts.set(piece, n);
  }
  return n;
}

function countedPieces(text: string): CountedPiece[] {
  const out: CountedPiece[] = [];
  for (const m of text.matchAll(PIECES)) {
    const piece = m[0];
    out.push({ start: m.index, end: m.index + piece.length, tokens: pieceTokens(piece), wordStart: /^\s/.test(piece) });
  }
  return out;
}

/**
 * Splits text into pieces of at most `budget` tokens each, cutting between pre-tokenizer pieces
 * (so never inside a character), preferably before a word in the last 30% of a piece. Each
 * pre-tokenizer piece is counted once: linear in the length of the text. Pieces are trimmed
 * and returned with their exact counts.
 */
export function splitByTokens(text: string, budget: number): Counted[] {
  const limit = Math.max(1, budget);
  const counted = countedPieces(text);
  const out: Counted[] = [];
  let from = 0; // index into counted
  while (from < counted.length) {
    let used = 0;
    let to = from;
    while (to < counted.length && (to === from || used + counted[to]!.tokens <= limit)) {
      used += counted[to]!.tokens;
      to += 1;
    }
    if (to < counted.length) {
      // prefer ending before a word start in the last 30% of the piece
      let acc = used;
      for (let k = to - 1; k > from; k--) {
        if (acc < limit * 0.7) break;
        if (counted[k]!.wordStart) {
          to = k;
          break;
        }
        acc -= counted[k]!.tokens;
      }
    }
    const piece = text.slice(counted[from]!.start, counted[to - 1]!.end).trim();
    // Trimming can re-segment the edges, so the piece is counted as it will be used.
    if (piece.length > 0) out.push({ text: piece, tokens: countTokens(piece) });
    from = to;
  }
  return out;
}

/** The longest suffix of `text` with at most `budget` tokens, starting at a word boundary when possible. */
export function tailWithinTokens(text: string, budget: number): string {
  if (budget <= 0) return '';
  // Pieces are found from the start, so only the end of a long text is scanned; the first
  // (possibly cut) piece of the window is never reached unless pieces average 16+ characters.
  const window = text.length > budget * 16 ? text.slice(text.length - budget * 16) : text;
  const counted = countedPieces(window).slice(window === text ? 0 : 1);
  let used = 0;
  let first = counted.length;
  let wordFirst = -1;
  for (let k = counted.length - 1; k >= 0; k--) {
    if (used + counted[k]!.tokens > budget) break;
    used += counted[k]!.tokens;
    first = k;
    if (counted[k]!.wordStart) wordFirst = k;
  }
  if (first >= counted.length) return '';
  const start = wordFirst >= 0 ? counted[wordFirst]!.start : counted[first]!.start;
  return window.slice(start).trim();
}

const LETTER_OR_DIGIT_END = /[\p{L}\p{N}]$/u;
const PUNCTUATION_TAIL = / ?[^\s\p{L}\p{N}]+$/u;
const FIRST_WORD = /^\S+/;
const deltaCache = new Map<string, number>();
const DELTA_CACHE_LIMIT = 4096;

function cachedDelta(key: string, compute: () => number): number {
  const hit = deltaCache.get(key);
  if (hit !== undefined) return hit;
  const value = compute();
  if (deltaCache.size >= DELTA_CACHE_LIMIT) deltaCache.clear();
  deltaCache.set(key, value);
  return value;
}

/**
 * countTokens(a + joiner + b) − countTokens(a) − countTokens(b), computed from a few characters
 * around the join instead of re-tokenising both sides; undefined when the join is not one of the
 * cases below (the caller then counts the joined text).
 *
 * cl100k_base splits text into pieces with a regex before BPE, and BPE never crosses a piece, so
 * only the pieces touching the join can change. With `a` not ending in whitespace and `b` not
 * starting with a line break:
 * - newline joiner ("\n", "\n\n", …): the pre-tokenizer's `\s*[\r\n]` makes the joiner one piece,
 *   unless `a` ends with punctuation, whose piece ` ?[^\s\p{L}\p{N}]+[\r\n]*` absorbs the newlines;
 *   `b` then starts a fresh piece exactly as it does alone.
 * - space joiner: `a`'s last piece cannot absorb a space; `b`'s first word becomes " word", which
 *   may tokenise differently; everything after the word (with the line breaks a trailing
 *   punctuation piece absorbs) is unchanged.
 * Verified against full counts by the unit tests.
 */
export function joinDelta(a: string, joiner: string, b: string): number | undefined {
  if (a.length === 0 || b.length === 0) return undefined;
  if (/\s/.test(a[a.length - 1]!)) return undefined;
  if (joiner.length > 0 && /^\n+$/.test(joiner)) {
    if (/^[ \t]*[\r\n]/.test(b) || b.trim() === '') return undefined;
    if (LETTER_OR_DIGIT_END.test(a)) return cachedDelta(joiner, () => countTokens(joiner));
    const tail = PUNCTUATION_TAIL.exec(a)?.[0];
    if (tail === undefined) return undefined;
    return cachedDelta(`${joiner}${tail}`, () => countTokens(tail + joiner) - countTokens(tail));
  }
  if (joiner === ' ') {
    let word = FIRST_WORD.exec(b)?.[0];
    if (word === undefined) return undefined;
    // A word ending in punctuation takes the line breaks that follow it into its last piece.
    if (!LETTER_OR_DIGIT_END.test(word)) word += /^[\r\n]*/.exec(b.slice(word.length))![0];
    if (word.length > 64) return countTokens(` ${word}`) - countTokens(word);
    return cachedDelta(` ${word}`, () => countTokens(` ${word}`) - countTokens(word));
  }
  return undefined;
}
