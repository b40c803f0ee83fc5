import { describe, expect, it } from 'vitest';
import { countTokens, countTokensUncached, countWithin, joinDelta, splitByTokens, tailWithinTokens } from '../../../../streams/chunk/tokens.ts';
import { document, rng } from './corpus.ts';

const EDGES = [
  'word', 'Word', 'end.', 'end.)', 'end."', 'x…', 'a:', '42', '3.14', '(x)', '`code`', '});', '{', '*/', ' * @param', '#', '- item',
  '東京', 'データ。', 'नमस्ते', 'café', '🔥', '👩‍💻', '<|endoftext|>', '$9.99', '100%', '—', '«quote»', "it's", "'s", 'x²',
  '    indented', '\tcode', '| a | b |', '...', '!?', 'ok!\nnext', 'https://ex.com/a?b=1',
];

describe('countTokens', () => {
  it('equals the encoder\'s own count of the whole text (the piece memo changes nothing), on edges, documents and repeats', () => {
    const r = rng(11);
    const pick = (): string => EDGES[Math.floor(r() * EDGES.length)]!;
    const texts: string[] = [];
    for (let i = 0; i < 400; i++) texts.push(Array.from({ length: 1 + Math.floor(r() * 12) }, pick).join(r() < 0.5 ? ' ' : ''));
    for (let i = 0; i < 20; i++) texts.push(document(r, 500 + Math.floor(r() * 4000)));
    // twice: the second pass is served by the memo
    for (const pass of [1, 2]) for (const t of texts) expect(countTokens(t), `pass ${pass}: ${JSON.stringify(t.slice(0, 80))}`).toBe(countTokensUncached(t));
    expect(countTokens('')).toBe(0);
    expect(countTokens('x'.repeat(5000))).toBe(countTokensUncached('x'.repeat(5000)));
  });
});

describe('joinDelta', () => {
  it('matches a full count whenever it gives an answer', () => {
    const r = rng(5);
    const pick = (): string => EDGES[Math.floor(r() * EDGES.length)]!;
    let answered = 0;
    for (let i = 0; i < 3000; i++) {
      const a = `${pick()} ${pick()}${r() < 0.5 ? pick() : ''}`.trimStart();
      const b = `${r() < 0.3 ? ' ' : ''}${pick()}${r() < 0.5 ? ` ${pick()}` : pick()}`;
      const joiner = ['\n', '\n\n', '\n\n\n', ' ', ''][Math.floor(r() * 5)]!;
      const delta = joinDelta(a, joiner, b);
      if (delta === undefined) continue;
      answered += 1;
      expect(countTokens(a) + delta + countTokens(b), JSON.stringify([a, joiner, b])).toBe(countTokensUncached(a + joiner + b));
    }
    expect(answered).toBeGreaterThan(1500);
  });

  it('declines the joins it cannot account for', () => {
    expect(joinDelta('a ', '\n', 'b')).toBeUndefined(); // trailing whitespace on the left
    expect(joinDelta('a', '\n\n', '\nb')).toBeUndefined(); // line break on the right
    expect(joinDelta('a', '', 'b')).toBeUndefined();
  });
});

describe('countWithin', () => {
  it('counts short texts exactly and gives up on long ones past the limit', () => {
    expect(countWithin('hello world', 10)).toBe(countTokens('hello world'));
    expect(countWithin('word '.repeat(1000), 50)).toBeUndefined();
    expect(countWithin('word '.repeat(10), 50)).toBe(countTokens('word '.repeat(10)));
  });
});

describe('splitByTokens / tailWithinTokens', () => {
  const text = Array.from({ length: 300 }, (_, i) => `w${i}${i % 7 === 0 ? '東京🔥' : ''}`).join(' ');

  it('splits into pieces within the budget that cover the text, at word boundaries', () => {
    const pieces = splitByTokens(text, 40);
    for (const p of pieces) {
      expect(p.tokens).toBe(countTokens(p.text));
      expect(p.tokens).toBeLessThanOrEqual(40);
      expect(p.text).toMatch(/^w\d/);
    }
    expect(pieces.map((p) => p.text).join(' ')).toBe(text);
  });

  it('never cuts inside a character', () => {
    const emoji = '🔥👩‍💻東京'.repeat(200);
    const pieces = splitByTokens(emoji, 7);
    expect(pieces.map((p) => p.text).join('')).toBe(emoji);
    for (const p of pieces) expect(p.text.isWellFormed()).toBe(true);
  });

  it('takes a suffix within the budget that starts at a word', () => {
    const tail = tailWithinTokens(text, 20);
    expect(text.endsWith(tail)).toBe(true);
    expect(countTokens(tail)).toBeLessThanOrEqual(20);
    expect(tail).toMatch(/^w\d/);
    expect(tailWithinTokens(text, 0)).toBe('');
  });
});
