import { describe, expect, it } from 'vitest';
import { MAX_QUERY_TERMS, matchExpression, queryTerms, quoteTerm } from '../../../adapters/vector-index/embedded/fts-query.ts';

describe('FTS5 query sanitising', () => {
  it('keeps only words, lower-cased and de-duplicated, in order', () => {
    expect(queryTerms('Kafka-lag: "consumer" AND (kafka) NOT lag*')).toEqual(['kafka', 'lag', 'consumer', 'and', 'not']);
    expect(queryTerms('café Ⅻ ｆｕｌｌ')).toEqual(['café', 'xii', 'full']);
    expect(queryTerms('日本語 テキスト')).toEqual(['日本語', 'テキスト']);
    expect(queryTerms('-- ** :: "" () ^ + \\ \u0000')).toEqual([]);
  });

  it('drops absurdly long words and caps the number of terms', () => {
    expect(queryTerms(`${'x'.repeat(65)} ok`)).toEqual(['ok']);
    const many = Array.from({ length: 100 }, (_, i) => `w${i}`).join(' ');
    expect(queryTerms(many)).toHaveLength(MAX_QUERY_TERMS);
  });

  it('quotes every term and ORs them', () => {
    expect(matchExpression(['near', 'or'])).toBe('"near" OR "or"');
    expect(quoteTerm('a"b')).toBe('"a""b"');
    expect(matchExpression([])).toBeNull();
  });
});
