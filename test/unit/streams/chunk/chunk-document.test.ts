import { describe, expect, it } from 'vitest';
import type { CleanedDocument } from '../../../../schemas/cleaned.ts';
import { chunkDocument, chunkerFor, countTokens, splitSentences } from '../../../../streams/chunk/index.ts';
import { document, rng, sentence } from './corpus.ts';

const cleaned = (text: string, category = 'article'): CleanedDocument => ({
  docId: 'doc-1', version: 1, category, author: 'ada', title: null, url: null, text,
  contentHash: '0'.repeat(64), sourceTsMs: 0, cleanedAtMs: 0,
});

describe('chunkDocument: sizes and counts', () => {
  const settings = [[32, 0], [64, 8], [128, 16], [256, 32]] as const;
  const categories = ['article', 'post', 'repository', 'notes'];

  it('never exceeds maxTokens and reports the exact token count, on varied text', () => {
    const r = rng(7);
    let checked = 0;
    for (let d = 0; d < 24; d++) {
      const text = document(r, 500 + Math.floor(r() * 5000));
      for (const [maxTokens, overlapTokens] of settings) {
        const chunks = chunkDocument(cleaned(text, categories[d % categories.length]), { maxTokens, overlapTokens });
        expect(chunks.length).toBeGreaterThan(0);
        chunks.forEach((c, i) => {
          expect(c.index).toBe(i);
          expect(c.text.trim()).not.toBe('');
          expect(countTokens(c.text)).toBe(c.tokens);
          expect(c.tokens).toBeLessThanOrEqual(maxTokens);
          checked += 1;
        });
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('loses no content: every word of the input appears in the chunks at least as often', () => {
    const r = rng(11);
    const text = Array.from({ length: 80 }, () => sentence(r)).join(' ');
    const count = (words: string[]): Map<string, number> => {
      const m = new Map<string, number>();
      for (const w of words) m.set(w, (m.get(w) ?? 0) + 1);
      return m;
    };
    const input = count(text.split(/\s+/));
    const output = count(chunkDocument(cleaned(text), { maxTokens: 64, overlapTokens: 8 }).flatMap((c) => c.text.split(/\s+/)));
    for (const [word, n] of input) expect(output.get(word) ?? 0, word).toBeGreaterThanOrEqual(n);
  });

  it('gives no chunks for empty or blank text', () => {
    expect(chunkDocument(cleaned(''), { maxTokens: 64, overlapTokens: 8 })).toEqual([]);
    expect(chunkDocument(cleaned(' \n\n\t\n'), { maxTokens: 64, overlapTokens: 8 })).toEqual([]);
  });

  it('treats special-token strings as text', () => {
    const [chunk] = chunkDocument(cleaned('Models stop at <|endoftext|> tokens.'), { maxTokens: 64, overlapTokens: 0 });
    expect(chunk!.text).toBe('Models stop at <|endoftext|> tokens.');
  });

  it('splits a sentence with no spaces by tokens, within the budget', () => {
    const blob = 'Zq8xY7wV6uT5sR4'.repeat(200);
    const chunks = chunkDocument(cleaned(blob), { maxTokens: 50, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.map((c) => c.text).join('')).toBe(blob);
    for (const c of chunks) expect(countTokens(c.text)).toBeLessThanOrEqual(50);
  });

  it('rejects invalid options with INVALID_CONFIG', () => {
    expect(() => chunkDocument(cleaned('x'), { maxTokens: 0, overlapTokens: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    expect(() => chunkDocument(cleaned('x'), { maxTokens: 32, overlapTokens: 32 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });
});

describe('chunkDocument: overlap', () => {
  const text = Array.from({ length: 40 }, (_, i) => `Sentence ${i} explains how the streaming pipeline keeps offsets and vectors consistent.`).join(' ');

  it('starts each chunk with whole trailing sentences of the previous one, within overlapTokens', () => {
    const chunks = chunkDocument(cleaned(text), { maxTokens: 80, overlapTokens: 24 });
    expect(chunks.length).toBeGreaterThan(4);
    for (let i = 1; i < chunks.length; i++) {
      const [first] = splitSentences(chunks[i]!.text);
      const prevSentences = splitSentences(chunks[i - 1]!.text);
      expect(prevSentences.at(-1)).toBe(first); // the carried sentence ended the previous chunk
      expect(countTokens(first!)).toBeLessThanOrEqual(24);
    }
  });

  it('has no overlap when overlapTokens is 0', () => {
    const chunks = chunkDocument(cleaned(text), { maxTokens: 80, overlapTokens: 0 });
    for (let i = 1; i < chunks.length; i++) {
      expect(chunks[i - 1]!.text).not.toContain(splitSentences(chunks[i]!.text)[0]!);
    }
  });

  it('falls back to the tail of an over-long last sentence, starting at a word', () => {
    const long = Array.from({ length: 6 }, (_, i) => `Clause ${i} ${'and more words about offsets '.repeat(12)}ends here.`).join(' ');
    const chunks = chunkDocument(cleaned(long), { maxTokens: 120, overlapTokens: 10 });
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1]!.text;
      const lead = chunks[i]!.text.split(' ').slice(0, 3).join(' ');
      expect(prev).toContain(lead);
    }
  });

  it('does not carry text across a section boundary', () => {
    const section = (h: string, s: string, n: number): string => `# ${h}\n\n${`${s} `.repeat(n).trim()}`;
    const opts = { maxTokens: 64, overlapTokens: 16 };
    // section Two starts a chunk: nothing from One is carried into it
    const a = chunkDocument(cleaned(`${section('One', 'Alpha beta gamma delta.', 12)}\n\n${section('Two', 'Epsilon zeta eta theta.', 12)}`), opts);
    const two = a.find((c) => c.text.startsWith('# Two'));
    expect(two).toBeDefined();
    expect(two!.text).not.toContain('Alpha');
    // wherever the boundary falls, a chunk only mixes sections around the heading itself
    for (const n of [5, 9, 17, 30]) {
      const chunks = chunkDocument(cleaned(`${section('One', 'Alpha beta gamma delta.', n)}\n\n${section('Two', 'Epsilon zeta eta theta.', n)}`), opts);
      for (const c of chunks) {
        if (c.text.includes('Alpha') && c.text.includes('Epsilon')) expect(c.text).toMatch(/Alpha[^]*# Two[^]*Epsilon/);
        if (c.text.startsWith('Two\n\n')) expect(c.text).not.toContain('Alpha');
      }
    }
  });
});

describe('chunkDocument: structure', () => {
  const fn = (name: string, lines: number): string =>
    ['```ts', `function ${name}() {`, ...Array.from({ length: lines }, (_, i) => `    const value${i} = compute(${i});  // aligned`), '}', '```'].join('\n');

  it('never splits a code block that fits, and keeps its indentation', () => {
    const blocks = [fn('alpha', 6), fn('beta', 9), fn('gamma', 4)];
    const text = ['Intro paragraph about the functions below.', blocks[0], 'Some words between.', blocks[1], blocks[2], 'Closing words.'].join('\n\n');
    const max = countTokens(blocks[1]!) + 5;
    const chunks = chunkDocument(cleaned(text, 'repository'), { maxTokens: max, overlapTokens: 8 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const b of blocks) expect(chunks.filter((c) => c.text.includes(b!))).toHaveLength(1);
  });

  it('keeps a code block that fits maxTokens whole even when the heading prefix would not fit with it', () => {
    const block = fn('delta', 12);
    const text = `# A rather long section heading for this\n\n${'Intro sentence here. '.repeat(20).trim()}\n\n${block}`;
    const chunks = chunkDocument(cleaned(text, 'repository'), { maxTokens: countTokens(block) + 1, overlapTokens: 0 });
    const holder = chunks.filter((c) => c.text.includes(block));
    expect(holder).toHaveLength(1);
    expect(holder[0]!.text).toBe(block);
  });

  it('splits an oversized code block on line boundaries, each piece fenced', () => {
    const big = fn('huge', 80);
    const lines = big.split('\n').slice(1, -1);
    const chunks = chunkDocument(cleaned(big, 'repository'), { maxTokens: 100, overlapTokens: 16 });
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) {
      expect(c.text.startsWith('```ts\n')).toBe(true);
      expect(c.text.endsWith('\n```')).toBe(true);
      for (const line of c.text.split('\n').slice(1, -1)) expect(lines).toContain(line);
    }
    const seen = chunks.flatMap((c) => c.text.split('\n').slice(1, -1));
    expect(seen).toEqual(lines);
  });

  it('prefixes a chunk that starts inside a section with its heading path', () => {
    const text = `# Guide\n\nShort intro.\n\n## Install\n\n${Array.from({ length: 30 }, (_, i) => `Step ${i} of the installation is described here.`).join(' ')}`;
    const chunks = chunkDocument(cleaned(text), { maxTokens: 60, overlapTokens: 0 });
    expect(chunks[0]!.text.startsWith('# Guide\n\nShort intro.')).toBe(true);
    const later = chunks.slice(1).filter((c) => !c.text.includes('## Install'));
    expect(later.length).toBeGreaterThan(1);
    for (const c of later) expect(c.text.startsWith('Guide > Install\n\nStep ')).toBe(true);
  });

  it('does not repeat a heading the chunk already starts with, and never ends a chunk on a heading', () => {
    const text = Array.from({ length: 6 }, (_, s) => `## Part ${s}\n\n${Array.from({ length: 5 }, (_, i) => `Part ${s} sentence ${i} about partitions.`).join(' ')}`).join('\n\n');
    const chunks = chunkDocument(cleaned(text), { maxTokens: 50, overlapTokens: 0 });
    for (const c of chunks) {
      expect(c.text.split('\n').at(-1)).not.toMatch(/^#+ /);
      const m = /^## (Part \d)/.exec(c.text);
      if (m) expect(c.text.indexOf(m[1]!)).toBe(3);
    }
  });

  it('keeps a list item whole when the list is split', () => {
    const items = Array.from({ length: 20 }, (_, i) => `- Item ${i} describes one retry policy in a few words`);
    const chunks = chunkDocument(cleaned(items.join('\n')), { maxTokens: 60, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks) for (const line of c.text.split('\n')) expect(items).toContain(line);
  });
});

describe('chunkDocument: determinism', () => {
  it('gives identical chunks for identical input, regardless of what ran before', () => {
    const r = rng(3);
    const text = document(r, 6000);
    const a = chunkDocument(cleaned(text), { maxTokens: 96, overlapTokens: 16 });
    for (let i = 0; i < 5; i++) chunkDocument(cleaned(document(r, 3000), 'repository'), { maxTokens: 64, overlapTokens: 8 });
    const b = chunkDocument(cleaned(text), { maxTokens: 96, overlapTokens: 16 });
    expect(b).toEqual(a);
  });
});

describe('per-category chunkers', () => {
  it('maps categories to chunkers, unknown ones to generic', () => {
    expect(['article', 'post', 'repository', 'newsletter'].map((c) => chunkerFor(c).name)).toEqual(['article', 'post', 'repository', 'generic']);
  });

  it('post: a short post is one chunk, and "#tag" lines are not headings', () => {
    const post = '#buildinpublic\n\nShipped the new ingestion path today 🚀\n#rust #kafka';
    expect(chunkDocument(cleaned(post, 'post'), { maxTokens: 256, overlapTokens: 32 })).toEqual([{ index: 0, text: post, tokens: countTokens(post) }]);
    const article = chunkDocument(cleaned(`# Title\n\n${'Words about streams. '.repeat(40).trim()}`, 'article'), { maxTokens: 40, overlapTokens: 0 });
    expect(article[1]!.text.startsWith('Title\n\n')).toBe(true);
    const longPost = chunkDocument(cleaned(`#launch day\n\n${'Words about streams. '.repeat(40).trim()}`, 'post'), { maxTokens: 40, overlapTokens: 0 });
    expect(longPost.slice(1).some((c) => c.text.startsWith('launch day'))).toBe(false);
  });

  it('repository: a source file is split on line boundaries, never inside a line', () => {
    const source = Array.from({ length: 120 }, (_, i) => (i % 10 === 9 ? '' : `  result.push(transform(item${i}, { retries: ${i % 5}, label: "step ${i}. Next" }));`)).join('\n');
    const lines = new Set(source.split('\n'));
    const chunks = chunkDocument(cleaned(source, 'repository'), { maxTokens: 64, overlapTokens: 16 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) for (const line of c.text.split('\n')) expect(lines.has(line) || lines.has(`  ${line}`)).toBe(true);
  });

  it('generic behaves like article (markdown structure)', () => {
    const text = `# A\n\n${'Some text here. '.repeat(30).trim()}\n\n## B\n\nMore.`;
    const opts = { maxTokens: 48, overlapTokens: 8 };
    expect(chunkDocument(cleaned(text, 'notes'), opts)).toEqual(chunkDocument(cleaned(text, 'article'), opts));
  });
});

describe('chunkDocument: throughput', () => {
  it('chunks 300 documents of ~3 KB quickly (guards against quadratic behaviour)', () => {
    const r = rng(99);
    const docs = Array.from({ length: 300 }, (_, i) => cleaned(document(r, 3000), ['article', 'post', 'repository', 'notes'][i % 4]));
    const t0 = performance.now();
    let n = 0;
    for (const d of docs) n += chunkDocument(d, { maxTokens: 256, overlapTokens: 32 }).length;
    const ms = performance.now() - t0;
    expect(n).toBeGreaterThan(600);
    expect(ms).toBeLessThan(1500); // ~40 ms on a laptop core
  });
});
