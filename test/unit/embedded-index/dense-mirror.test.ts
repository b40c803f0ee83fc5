import { describe, expect, it } from 'vitest';
import { DenseMirror } from '../../../adapters/vector-index/embedded/dense-mirror.ts';
import type { SearchFilter } from '../../../ports/vector-index.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a * 1_664_525 + 1_013_904_223) >>> 0;
    return a / 2 ** 32;
  };
}

const DIM = 48;
const CATS = ['a', 'b', 'c'];
const AUTHORS = ['x', 'y', 'z', 'w'];

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0; let aa = 0; let bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! ** 2; bb += b[i]! ** 2; }
  return ab / Math.sqrt(aa * bb);
}

function build(n: number, seed = 1): { mirror: DenseMirror; rows: Map<number, { v: Float32Array; category: string; author: string; docId: string }> } {
  const rand = rng(seed);
  const mirror = new DenseMirror(DIM);
  const rows = new Map<number, { v: Float32Array; category: string; author: string; docId: string }>();
  for (let pk = 1; pk <= n; pk++) {
    const v = Float32Array.from({ length: DIM }, () => rand() - 0.5);
    const row = { v, category: CATS[pk % 3]!, author: AUTHORS[pk % 4]!, docId: `d${Math.floor(pk / 5)}` };
    rows.set(pk, row);
    mirror.upsert({ pk, vector: v, category: row.category, author: row.author, docId: row.docId });
  }
  return { mirror, rows };
}

function matches(r: { category: string; author: string; docId: string }, f: SearchFilter): boolean {
  const ok = (v: string | string[] | undefined, x: string): boolean => v === undefined || (Array.isArray(v) ? v.includes(x) : v === x);
  return ok(f.category, r.category) && ok(f.author, r.author) && ok(f.docId, r.docId);
}

describe('DenseMirror', () => {
  const filters: SearchFilter[] = [{}, { category: 'b' }, { author: ['x', 'w'] }, { category: ['a', 'c'], author: 'y' }, { docId: 'd17' }, { docId: ['d3', 'd400', 'missing'] }, { category: 'nope' }];

  for (const filter of filters) {
    it(`returns every filtered chunk's neighbours, none outside the filter: ${JSON.stringify(filter)}`, () => {
      const { mirror, rows } = build(3000);
      const q = Float32Array.from({ length: DIM }, (_, i) => Math.sin(i));
      const truth = [...rows].filter(([, r]) => matches(r, filter)).map(([pk, r]) => ({ pk, s: cosine(q, r.v) })).sort((a, b) => b.s - a.s);
      const hits = mirror.search(q, 40, filter);
      expect(hits.length).toBe(Math.min(40, truth.length));
      for (const h of hits) expect(matches(rows.get(h.pk)!, filter)).toBe(true);
      // the exact top 10 always survive the int8 round when 40 are kept
      const kept = new Set(hits.map((h) => h.pk));
      for (const t of truth.slice(0, 10)) expect(kept.has(t.pk)).toBe(true);
      for (let i = 1; i < hits.length; i++) expect(hits[i]!.approx).toBeLessThanOrEqual(hits[i - 1]!.approx);
      for (const h of hits) expect(Math.abs(h.approx - cosine(q, rows.get(h.pk)!.v))).toBeLessThan(0.02);
    });
  }

  it('forgets removed chunks and follows relabelled ones', () => {
    const { mirror, rows } = build(200);
    const q = rows.get(17)!.v;
    expect(mirror.search(q, 1)[0]!.pk).toBe(17);
    mirror.remove(17);
    expect(mirror.search(q, 200).some((h) => h.pk === 17)).toBe(false);
    expect(mirror.size).toBe(199);
    mirror.upsert({ pk: 5000, vector: q, category: 'fresh', author: 'new', docId: 'dnew' });
    expect(mirror.search(q, 1, { category: 'fresh' }).map((h) => h.pk)).toEqual([5000]);
    mirror.upsert({ pk: 5000, vector: q, category: 'moved', author: 'new', docId: 'dnew' });
    expect(mirror.search(q, 5, { category: 'fresh' })).toEqual([]);
    expect(mirror.search(q, 5, { category: 'moved' }).map((h) => h.pk)).toEqual([5000]);
    mirror.remove(5000);
    expect(mirror.search(q, 5, { author: 'new' })).toEqual([]);
    // a freed slot is reused, and its new labels are the only ones that match
    mirror.upsert({ pk: 6000, vector: q, category: 'a', author: 'x', docId: 'dz' });
    expect(mirror.search(q, 1, { docId: 'dz' }).map((h) => h.pk)).toEqual([6000]);
    expect(mirror.size).toBe(200);
  });

  it('is empty after clear', () => {
    const { mirror } = build(50);
    mirror.clear();
    expect(mirror.size).toBe(0);
    expect(mirror.search(new Float32Array(DIM).fill(1), 5)).toEqual([]);
  });
});
