/**
 * Turns user text into a safe FTS5 MATCH expression. FTS5 query syntax treats quotes, `-`, `:`,
 * `*`, `^`, parentheses and the words AND/OR/NOT/NEAR as operators, so raw user text can throw
 * ("fts5: syntax error") or silently change meaning. Here every word becomes a quoted string (a
 * phrase of one token for the FTS tokenizer) and the words are OR-ed: any word may match, BM25
 * ranks chunks that match more (and rarer) words higher.
 */

/** A word: a run of letters, digits, combining marks or private-use characters (unicode61's token characters). */
const WORD = /[\p{L}\p{N}\p{M}\p{Co}]+/gu;
/** More words than this add cost without changing the ranking much. */
export const MAX_QUERY_TERMS = 32;
/** Longer "words" are noise (hashes, base64); they would never match a tokenised chunk anyway. */
const MAX_TERM_LENGTH = 64;

/** The distinct words of `text`, lower-cased, in order of first appearance, at most MAX_QUERY_TERMS. */
export function queryTerms(text: string): string[] {
  const seen = new Set<string>();
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
    const w = m[0];
    if (w.length > MAX_TERM_LENGTH || seen.has(w)) continue;
    seen.add(w);
    if (seen.size >= MAX_QUERY_TERMS) break;
  }
  return [...seen];
}

/** One term as an FTS5 string literal (quotes doubled, although `queryTerms` never yields one). */
export function quoteTerm(term: string): string {
  return `"${term.replaceAll('"', '""')}"`;
}

/** `"a" OR "b" OR …`, or null when there is nothing to search for. */
export function matchExpression(terms: string[]): string | null {
  if (terms.length === 0) return null;
  return terms.map(quoteTerm).join(' OR ');
}
