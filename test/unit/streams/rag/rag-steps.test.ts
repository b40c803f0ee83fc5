import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { extractiveAnswer, EXTRACTIVE_LABEL } from '../../../../streams/rag/extractive.ts';
import { parseExpansionReply } from '../../../../streams/rag/expansion.ts';
import { CitationFilter } from '../../../../streams/rag/citations.ts';
import { reciprocalRankFusion } from '../../../../streams/rag/fusion.ts';
import { buildAnswerPrompt } from '../../../../streams/rag/prompt.ts';
import { loadPrompts } from '../../../../wiring/prompts.ts';
import { applyOrder, parseRerankReply } from '../../../../streams/rag/rerank.ts';
import { authorCandidates, categoryCandidates, confirmFilters, extractFiltersByRules, parseSelfQueryReply } from '../../../../streams/rag/self-query.ts';

// The pure RAG steps behind POST /v1/rag/query (streams/rag). They live here because test/ mirrors
// api/ for this work; they need no system.

const prompts = loadPrompts();
const vocab = { authors: ['Alice', 'Bob Smith', 'al'], categories: ['article', 'post', 'repository', 'paper'] };

describe('self-query (rules)', () => {
  it('extracts category and author from "articles by Alice about X" and drops the author phrase from the query', () => {
    expect(extractFiltersByRules('articles by Alice about Kafka streams', vocab)).toEqual({
      filters: { author: 'Alice', category: 'article' }, query: 'articles about Kafka streams',
    });
  });

  it('matches multi-word authors case-insensitively after a cue, and returns the known spelling', () => {
    expect(extractFiltersByRules('posts written by bob smith on testing', vocab).filters).toEqual({ author: 'Bob Smith', category: 'post' });
  });

  it('matches a known author without a cue only as written, and singular categories only when used as a filter', () => {
    expect(extractFiltersByRules('What did Alice say about retries?', vocab).filters).toEqual({ author: 'Alice' });
    expect(extractFiltersByRules('what did alice say about retries?', vocab).filters).toEqual({});
    expect(extractFiltersByRules('What is an article?', vocab).filters).toEqual({});
    expect(extractFiltersByRules('the repository about parsers', vocab).filters).toEqual({ category: 'repository' });
    expect(extractFiltersByRules('repos by Bob Smith', vocab).filters).toEqual({ author: 'Bob Smith', category: 'repository' });
  });

  it('ignores authors and categories outside the vocabulary and short names inside words', () => {
    expect(extractFiltersByRules('recipes by Carol about bread', vocab).filters).toEqual({});
    expect(extractFiltersByRules('papers by Carol', vocab).filters).toEqual({ category: 'paper' });
  });

  it('proposes candidate names and categories for the caller to check', () => {
    const names = authorCandidates('articles by Bob Smith about Kafka, and Alice\'s notes');
    expect(names).toEqual(expect.arrayContaining(['Bob', 'Bob Smith', 'Alice', 'Kafka']));
    expect(names).not.toContain('about');
    expect(categoryCandidates('papers about consensus and videos by Carol')).toEqual(['paper', 'video']);
    // a plural without a cue word is a candidate too (the caller keeps it only if the index holds that category)
    expect(categoryCandidates('Which papers discuss filtered search?')).toEqual(['paper']);
  });

  it('validates an LLM reply and keeps only known values', () => {
    expect(parseSelfQueryReply('Sure! ```json\n{"author": "alice", "category": "Article"}\n```')).toEqual({ author: 'alice', category: 'article' });
    expect(parseSelfQueryReply('{"author": null, "category": null}')).toEqual({});
    expect(() => parseSelfQueryReply('no idea')).toThrow(/not JSON/);
    expect(() => parseSelfQueryReply('{"author": 5}')).toThrow(/author/);
    expect(() => parseSelfQueryReply('{"category": "Not A Category!"}')).toThrow(/category/);
    expect(confirmFilters({ author: 'alice', category: 'video' }, vocab)).toEqual({ author: 'Alice' });
  });
});

describe('query expansion', () => {
  it('keeps the original first and drops duplicates, up to n variants', () => {
    expect(parseExpansionReply('{"queries": ["kafka ordering", "Kafka Ordering!", "partition keys", "extra one"]}', 'How does Kafka order?', 2))
      .toEqual(['How does Kafka order?', 'kafka ordering', 'partition keys']);
    expect(parseExpansionReply('1. first way\n2. second way', 'q', 3)).toEqual(['q', 'first way', 'second way']);
    expect(() => parseExpansionReply('{}', 'q', 3)).toThrow();
  });
});

describe('reciprocal rank fusion', () => {
  it('scores 1/(k+rank) summed over lists and ranks items found by several lists first', () => {
    const fused = reciprocalRankFusion([['a', 'b', 'c'], ['c', 'a', 'd']], (x) => x, { k: 60 });
    expect(fused.map((f) => f.item)).toEqual(['a', 'c', 'b', 'd']);
    expect(fused[0]!.score).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(fused[0]!.ranks).toEqual([1, 2]);
    expect(fused.find((f) => f.item === 'd')!.ranks).toEqual([null, 3]);
    expect(reciprocalRankFusion([['a', 'b'], ['b']], (x) => x, { limit: 1 }).map((f) => f.item)).toEqual(['b']);
  });
});

describe('rerank parsing', () => {
  it('maps 1-based rankings to an order and appends what the model left out', () => {
    expect(parseRerankReply('{"ranking": [3, 1, 3, 9]}', 3)).toEqual([2, 0]);
    expect(applyOrder(['a', 'b', 'c'], [2, 0])).toEqual(['c', 'a', 'b']);
    expect(() => parseRerankReply('{"ranking": [7]}', 3)).toThrow(/none/);
  });
});

describe('answer prompt within a token budget', () => {
  const chunk = (n: number, words: number) => ({ title: `Doc ${n}`, url: null, text: Array.from({ length: words }, (_, i) => `word${n}x${i}`).join(' ') });

  it('numbers chunks [1], [2], … and keeps everything when it fits', () => {
    const p = buildAnswerPrompt({ template: prompts.answer, question: 'Why?', chunks: [chunk(1, 5), chunk(2, 5)], contextTokens: 4096 });
    expect(p.included).toBe(2);
    expect(p.truncated).toBe(false);
    expect(p.omitted).toBe(0);
    expect(p.messages[1]!.content).toMatch(/^Context:\n\[1\] Doc 1\nword1x0[\s\S]*\n\n\[2\] Doc 2\n[\s\S]*Question: Why\?$/);
    expect(p.messages[0]!.content).toMatch(/\[1\]/);
  });

  it('truncates the last chunk that partly fits and leaves out the rest, staying within the window minus the answer budget', () => {
    const contextTokens = 1024;
    const p = buildAnswerPrompt({ template: prompts.answer, question: 'Why?', chunks: [chunk(1, 60), chunk(2, 400), chunk(3, 10)], contextTokens, answerTokens: 256 });
    expect(p.included).toBe(2);
    expect(p.truncated).toBe(true);
    expect(p.omitted).toBe(1);
    expect(p.messages[1]!.content).toContain('[2] Doc 2');
    expect(p.messages[1]!.content).not.toContain('[3]');
    expect(p.messages[1]!.content).toMatch(/…\n\nQuestion: Why\?$/);
    const tokens = p.messages.reduce((n, m) => n + countTokens(m.content), 0);
    expect(tokens + p.answerTokens).toBeLessThanOrEqual(contextTokens);
    expect(p.promptTokens).toBeGreaterThanOrEqual(tokens);
  });

  it('refuses a question that cannot fit', () => {
    expect(() => buildAnswerPrompt({ template: prompts.answer, question: 'why '.repeat(2000), chunks: [], contextTokens: 512 })).toThrow(/does not fit/);
  });
});

describe('extractive answer', () => {
  const sources = [
    { text: 'Kafka splits topics into partitions. Records with the same key land on the same partition. Consumers share partitions.' },
    { text: 'Bread needs flour. The same key opens the same door.' },
  ];

  it('quotes the best-matching sentences with [n] citations under the label', () => {
    const a = extractiveAnswer('Which partition do records with the same key land on?', sources);
    expect(a.answer.startsWith(`${EXTRACTIVE_LABEL}:\n`)).toBe(true);
    expect(a.answer.split('\n')[1]).toBe('Records with the same key land on the same partition. [1]');
    expect(a.cited).toContain(1);
    expect(a.answer).not.toContain('Bread needs flour');
  });

  it('says when there is nothing to quote', () => {
    expect(extractiveAnswer('anything', []).answer).toBe(`${EXTRACTIVE_LABEL}: no indexed content matches the question.`);
  });
});

describe('citation filter', () => {
  const run = (sources: number, pieces: string[]) => {
    const f = new CitationFilter(sources);
    const text = pieces.map((p) => f.push(p)).join('') + f.end();
    return { text, cited: f.cited, removed: f.removed };
  };

  it('passes citations of given sources through, even split across pieces', () => {
    expect(run(3, ['Keys keep order [', '1', '] and groups share [2][', '3].'])).toEqual({ text: 'Keys keep order [1] and groups share [2][3].', cited: [1, 2, 3], removed: [] });
  });

  it('takes out citations of sources that were not given, and trims a list to the given ones', () => {
    expect(run(2, ['See [7]. Also [1, 9] and [0].'])).toEqual({ text: 'See . Also [1] and .', cited: [1], removed: [7, 9, 0] });
  });

  it('leaves brackets that are not citations alone, and passes an unfinished marker on at the end', () => {
    expect(run(2, ['an array a[i] and [note] and [2'])).toEqual({ text: 'an array a[i] and [note] and [2', cited: [], removed: [] });
    expect(run(1, ['[[1]]'])).toEqual({ text: '[[1]]', cited: [1], removed: [] });
  });
});
