import { describe, expect, it } from 'vitest';
import { TermPruning } from '../../../adapters/vector-index/embedded/term-pruning.ts';

function harness(df: Record<string, number>, opts: { minChunks?: number; postingBudget?: number } = {}) {
  const calls: Array<[string, number]> = [];
  const pruning = new TermPruning({
    probe: (expr, cap) => {
      calls.push([expr, cap]);
      return Math.min(cap, df[expr.slice(1, -1)] ?? 0);
    },
    ...opts,
  });
  const terms = (...t: string[]) => t.map((term) => ({ term, expression: `"${term}"` }));
  return { pruning, calls, terms };
}

describe('TermPruning', () => {
  it('leaves small indexes alone without probing', () => {
    const { pruning, calls, terms } = harness({ the: 900 }, { minChunks: 1000 });
    expect(pruning.select(terms('the', 'kafka'), 999)).toEqual(['the', 'kafka']);
    expect(calls).toEqual([]);
  });

  it('drops words found in more than half the chunks, and words found nowhere', () => {
    const { pruning, calls, terms } = harness({ the: 60_000, kafka: 500, lag: 50_000 }, { postingBudget: 1_000_000 });
    expect(pruning.select(terms('the', 'kafka', 'unknown', 'lag'), 100_000)).toEqual(['kafka', 'lag']);
    expect(calls.every(([, cap]) => cap === 50_001)).toBe(true);
  });

  it('drops the most frequent words beyond the posting budget, keeping the rarest', () => {
    const { pruning, terms } = harness({ a: 30_000, b: 20_000, c: 5_000, d: 1_000 }, { postingBudget: 27_000 });
    expect(pruning.select(terms('a', 'b', 'c', 'd'), 100_000)).toEqual(['b', 'c', 'd']);
    const only = harness({ a: 45_000, b: 40_000 }, { postingBudget: 10_000 });
    expect(only.pruning.select(only.terms('a', 'b'), 100_000)).toEqual(['b']);
  });

  it('caches document frequencies until the chunk count drifts by more than 10%', () => {
    const { pruning, calls, terms } = harness({ kafka: 500 });
    pruning.select(terms('kafka'), 100_000);
    pruning.select(terms('kafka'), 109_000);
    expect(calls).toHaveLength(1);
    pruning.select(terms('kafka'), 111_000);
    expect(calls).toHaveLength(2);
  });
});
