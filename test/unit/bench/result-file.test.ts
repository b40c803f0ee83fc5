import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resultFileName } from '../../../bench/result-file.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('the file a benchmark run writes', () => {
  it('a full run writes latest.json, a quick one quick.json', () => {
    expect(resultFileName(false, null)).toBe('latest.json');
    expect(resultFileName(true, null)).toBe('quick.json');
  });

  it('a run of some groups writes the file named after them, whatever order they were asked in', () => {
    expect(resultFileName(false, new Set(['cache']))).toBe('cache.json');
    expect(resultFileName(false, new Set(['throughput', 'freshness']))).toBe('freshness+throughput.json');
    expect(resultFileName(false, new Set(['freshness', 'throughput']))).toBe('freshness+throughput.json');
    expect(resultFileName(true, new Set(['llm']))).toBe('quick-llm.json');
  });

  it('every result file the README cites is in bench/results/ (smoke runs, quick*.json, are never committed)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const cited = [...new Set([...readme.matchAll(/bench\/results\/([\w+.-]+\.json)/g)].map((m) => m[1]!))];
    const figures = cited.filter((file) => !file.startsWith('quick'));
    expect(figures).toContain('latest.json');
    for (const file of figures) expect(existsSync(join(ROOT, 'bench', 'results', file)), `bench/results/${file}`).toBe(true);
  });
});
