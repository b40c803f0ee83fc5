import { describe, expect, it } from 'vitest';
import { queryMetrics, rankedDocuments, summarise } from '../../../streams/eval/retrieval-metrics.ts';
import { parseEvalSet } from '../../../cli/commands/eval.ts';
import { documentIdFor } from '../../../schemas/ids.ts';

describe('retrieval metrics', () => {
  it('a document counts at the rank of its first chunk', () => {
    expect(rankedDocuments(['a', 'b', 'a', 'c', 'b', 'd'])).toEqual(['a', 'b', 'c', 'd']);
  });

  it('reciprocal rank, nDCG and recall with binary relevance', () => {
    const m = queryMetrics(['x', 'a', 'y', 'b'], new Set(['a', 'b']), 10);
    expect(m.reciprocalRank).toBe(0.5);
    // DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    expect(m.ndcg).toBeCloseTo((1 / Math.log2(3) + 1 / Math.log2(5)) / (1 + 1 / Math.log2(3)), 10);
    expect(m.recallAtK).toBe(1);
    expect(m.recallAt5).toBe(1);
    const perfect = queryMetrics(['a', 'b', 'x'], new Set(['a', 'b']), 10);
    expect(perfect).toEqual({ reciprocalRank: 1, ndcg: 1, recallAt5: 1, recallAtK: 1 });
  });

  it('the cut-off k is respected: a relevant document past k earns nothing', () => {
    const ranked = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'a'];
    expect(queryMetrics(ranked, new Set(['a']), 5)).toEqual({ reciprocalRank: 0, ndcg: 0, recallAt5: 0, recallAtK: 0 });
    const at10 = queryMetrics(ranked, new Set(['a']), 10);
    expect(at10.reciprocalRank).toBeCloseTo(1 / 7, 10);
    expect(at10.recallAt5).toBe(0);
    expect(at10.recallAtK).toBe(1);
  });

  it('summarises as means over the queries', () => {
    const s = summarise([queryMetrics(['a'], new Set(['a']), 10), queryMetrics(['x', 'a'], new Set(['a']), 10), queryMetrics(['x'], new Set(['a']), 10)]);
    expect(s).toMatchObject({ queries: 3, mrr: 0.5, recallAtK: 0.6667 });
  });

  it('reads a labelled set: externalIds become document ids by source; a bad line is named', () => {
    const set = parseEvalSet('{"query": "q1", "relevant": ["maya/lag"]}\n\n{"query": "q2", "relevant": ["x"], "source": "blog", "filter": {"category": "post"}}\n', 'demo');
    expect([...set[0]!.relevant]).toEqual([documentIdFor('demo', 'maya/lag')]);
    expect(set[1]).toEqual({ query: 'q2', relevant: new Set([documentIdFor('blog', 'x')]), filter: { category: 'post' } });
    const id = documentIdFor('demo', 'a');
    expect([...parseEvalSet(`{"query": "q", "relevant": ["${id}"]}`, 'other')[0]!.relevant]).toEqual([id]);
    expect(() => parseEvalSet('{"query": "q", "relevant": []}\n', 'demo')).toThrow(/line 1: relevant: list at least one/);
    expect(() => parseEvalSet('{"query": "q", "relevant": ["a"]}\n{oops\n', 'demo')).toThrow(/line 2: not JSON/);
    expect(() => parseEvalSet('{"query": "q", "relevant": ["a"], "k": 3}\n', 'demo')).toThrow(/line 1/);
  });
});
