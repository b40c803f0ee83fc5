/**
 * Keeps keyword search fast on large indexes. FTS5 computes BM25 for EVERY chunk that matches any
 * query word (about 0.4 µs each on this class of machine), so one very common word ("the",
 * "data") makes an OR query score most of the index. Two rules bound that cost:
 *
 * 1. A word found in more than half of the chunks carries no BM25 signal: FTS5's idf,
 *    ln((N − df + 0.5) / (df + 0.5)), is ≤ 0 there and FTS5 clamps it to 1e-6. Dropping such a word
 *    leaves the ranking of every chunk that matches another word unchanged.
 * 2. If the remaining words still match more than `postingBudget` chunks in total, the most
 *    frequent (lowest-idf) words are dropped until they fit, always keeping the rarest word.
 *
 * Neither rule applies to small indexes (below `minChunks`), where FTS5 is fast whatever the
 * query. Document frequencies are probed with FTS5 itself (so its tokenizer and stemmer decide what
 * a word is) and cached until the chunk count drifts by 10%.
 */

export interface TermPruningOptions {
  /** Counts chunks matching an FTS5 expression, stopping at `cap`. */
  probe: (expression: string, cap: number) => number;
  /** Below this many chunks, no pruning. Default 20,000. */
  minChunks?: number;
  /** Most postings (Σ document frequency) a query may score. Default 30,000. */
  postingBudget?: number;
}

const MAX_CACHED_TERMS = 50_000;

export class TermPruning {
  private readonly probe: TermPruningOptions['probe'];
  private readonly minChunks: number;
  private readonly postingBudget: number;
  private readonly cache = new Map<string, { df: number; n: number }>();

  constructor(opts: TermPruningOptions) {
    this.probe = opts.probe;
    this.minChunks = opts.minChunks ?? 20_000;
    this.postingBudget = opts.postingBudget ?? 30_000;
  }

  /** Document frequency of `expression` (a quoted term), capped at ⌊n/2⌋ + 1. */
  documentFrequency(expression: string, n: number): number {
    const hit = this.cache.get(expression);
    if (hit && Math.abs(hit.n - n) <= hit.n * 0.1) return hit.df;
    const df = this.probe(expression, Math.floor(n / 2) + 1);
    if (this.cache.size >= MAX_CACHED_TERMS) this.cache.clear();
    this.cache.set(expression, { df, n });
    return df;
  }

  /** The terms worth searching for, in their original order (may be empty). */
  select(terms: Array<{ term: string; expression: string }>, n: number): string[] {
    if (n < this.minChunks) return terms.map((t) => t.term);
    const withDf = terms
      .map((t, order) => ({ ...t, order, df: this.documentFrequency(t.expression, n) }))
      .filter((t) => t.df > 0 && t.df <= n / 2);
    withDf.sort((a, b) => a.df - b.df);
    let total = withDf.reduce((s, t) => s + t.df, 0);
    while (total > this.postingBudget && withDf.length > 1) total -= withDf.pop()!.df;
    return withDf.sort((a, b) => a.order - b.order).map((t) => t.term);
  }
}
