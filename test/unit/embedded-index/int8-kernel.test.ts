import { describe, expect, it } from 'vitest';
import { Int8Codes, quantizeInt8 } from '../../../adapters/vector-index/embedded/int8-kernel.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a * 1_664_525 + 1_013_904_223) >>> 0;
    return a / 2 ** 32;
  };
}

describe('Int8Codes (WebAssembly SIMD dot products)', () => {
  for (const dim of [1, 15, 16, 17, 100, 256, 384]) {
    it(`matches a scalar reference at dimension ${dim}, for any slot order`, () => {
      const rand = rng(dim);
      const codes = new Int8Codes(dim, 16);
      const n = 3000; // forces growth past the initial capacity
      codes.ensureCapacity(n);
      const stored: Int8Array[] = [];
      for (let s = 0; s < n; s++) {
        const c = Int8Array.from({ length: dim }, () => Math.floor(rand() * 255) - 127);
        stored.push(c);
        codes.write(s, c);
      }
      const q = Int8Array.from({ length: dim }, () => Math.floor(rand() * 255) - 127);
      const list = codes.slotList();
      const order = Array.from({ length: n }, (_, i) => (i * 7919) % n);
      order.forEach((s, i) => { list[i] = s; });
      const got = codes.score(q, n);
      for (let i = 0; i < n; i++) {
        const c = stored[order[i]!]!;
        let want = 0;
        for (let j = 0; j < dim; j++) want += q[j]! * c[j]!;
        expect(got[i], `slot ${order[i]}`).toBe(want);
      }
    });
  }

  it('keeps codes when it grows and zeroes cleared slots', () => {
    const codes = new Int8Codes(32, 4);
    const c = new Int8Array(32).fill(3);
    codes.write(2, c);
    codes.ensureCapacity(50_000);
    codes.write(40_000, c);
    const q = new Int8Array(32).fill(2);
    const list = codes.slotList();
    list[0] = 2; list[1] = 40_000; list[2] = 3;
    expect([...codes.score(q, 3)]).toEqual([192, 192, 0]);
    codes.clear(2);
    list[0] = 2;
    expect(codes.score(q, 1)[0]).toBe(0);
  });
});

describe('quantizeInt8', () => {
  it('approximates cosine within 1%', () => {
    const rand = rng(3);
    for (let t = 0; t < 200; t++) {
      const a = Float32Array.from({ length: 256 }, () => rand() - 0.5);
      const b = Float32Array.from(a, (x) => x + (rand() - 0.5) * 0.8);
      let ab = 0; let aa = 0; let bb = 0;
      for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! ** 2; bb += b[i]! ** 2; }
      const qa = quantizeInt8(a);
      const qb = quantizeInt8(b);
      let dot = 0;
      for (let i = 0; i < a.length; i++) dot += qa.code[i]! * qb.code[i]!;
      expect(Math.abs(dot * qa.factor * qb.factor - ab / Math.sqrt(aa * bb))).toBeLessThan(0.01);
    }
  });

  it('maps the largest magnitude to ±127 and a zero vector to factor 0', () => {
    const { code, factor } = quantizeInt8(Float32Array.from([0.5, -1, 0.25, 0]));
    expect([...code]).toEqual([64, -127, 32, 0]);
    expect(factor).toBeCloseTo(1 / (127 * Math.sqrt(0.25 + 1 + 0.0625)), 9);
    expect(quantizeInt8(new Float32Array(4)).factor).toBe(0);
  });
});
