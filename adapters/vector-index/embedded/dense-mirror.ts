import type { SearchFilter } from '../../../ports/vector-index.ts';
import { Int8Codes, quantizeInt8 } from './int8-kernel.ts';

/**
 * The dense side of the embedded index, in memory: one int8 code per chunk (4x smaller than
 * float32) plus the chunk's category, author and document as interned ids. A search scores every
 * chunk that passes the filter with the SIMD kernel and keeps the best `m` by approximate cosine.
 *
 * Filters are applied BEFORE ranking, so a filter that matches few chunks still returns all of them
 * (no post-filtering of a global top-k). The caller rescores the survivors with the exact float32
 * vectors from SQLite, so the final order is exact cosine; int8 only decides who reaches the
 * rescoring round, and the caller asks for a generous margin.
 *
 * SQLite stays the source of truth: this is a cache the index rebuilds or patches from it.
 */

export interface MirrorRow {
  pk: number;
  docId: string;
  category: string;
  author: string;
  vector: Float32Array;
}

export interface MirrorHit {
  pk: number;
  /** Approximate cosine (int8). */
  approx: number;
}

/** Strings interned to small integers, reference-counted so ids of vanished values are reused. */
class Interner {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly refs: number[] = [];
  private readonly free: number[] = [];

  acquire(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.free.pop() ?? this.refs.length;
      this.ids.set(s, id);
      this.names[id] = s;
      this.refs[id] = 0;
    }
    this.refs[id]! += 1;
    return id;
  }

  release(id: number): void {
    const left = (this.refs[id] ?? 1) - 1;
    this.refs[id] = left;
    if (left <= 0) {
      this.ids.delete(this.names[id]!);
      this.names[id] = '';
      this.free.push(id);
    }
  }

  lookup(s: string): number | undefined {
    return this.ids.get(s);
  }

  clear(): void {
    this.ids.clear();
    this.names.length = 0;
    this.refs.length = 0;
    this.free.length = 0;
  }
}

/** A filter field resolved to interned ids: null = no constraint; an empty set = matches nothing. */
type FieldIds = Set<number> | null;

function values(v: string | string[] | undefined): string[] | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v : [v];
}

export class DenseMirror {
  readonly dimension: number;
  private readonly codes: Int8Codes;
  private readonly scratch: Int8Array;
  private readonly slotOf = new Map<number, number>();
  private readonly freeSlots: number[] = [];
  private highWater = 0;
  private pkOf = new Float64Array(0);
  private factor = new Float32Array(0);
  private live = new Uint8Array(0);
  private cat = new Int32Array(0);
  private auth = new Int32Array(0);
  private doc = new Int32Array(0);
  private readonly cats = new Interner();
  private readonly auths = new Interner();
  private readonly docs = new Interner();

  constructor(dimension: number) {
    this.dimension = dimension;
    this.codes = new Int8Codes(dimension);
    this.scratch = new Int8Array(dimension);
    this.resize(this.codes.capacity);
  }

  get size(): number {
    return this.slotOf.size;
  }

  private resize(cap: number): void {
    const grow = <T extends Float64Array | Float32Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const next = make(cap);
      next.set(old as never);
      return next;
    };
    this.pkOf = grow(this.pkOf, (n) => new Float64Array(n));
    this.factor = grow(this.factor, (n) => new Float32Array(n));
    this.live = grow(this.live, (n) => new Uint8Array(n));
    this.cat = grow(this.cat, (n) => new Int32Array(n));
    this.auth = grow(this.auth, (n) => new Int32Array(n));
    this.doc = grow(this.doc, (n) => new Int32Array(n));
  }

  upsert(row: MirrorRow): void {
    if (row.vector.length !== this.dimension) throw new Error(`vector has ${row.vector.length} dimensions, expected ${this.dimension}`);
    let slot = this.slotOf.get(row.pk);
    if (slot === undefined) {
      slot = this.freeSlots.pop();
      if (slot === undefined) {
        slot = this.highWater++;
        if (slot >= this.codes.capacity) {
          this.codes.ensureCapacity(slot + 1);
          this.resize(this.codes.capacity);
        }
      }
      this.slotOf.set(row.pk, slot);
    } else {
      this.releaseLabels(slot);
    }
    const { code, factor } = quantizeInt8(row.vector, this.scratch);
    this.codes.write(slot, code);
    this.pkOf[slot] = row.pk;
    this.factor[slot] = factor;
    this.live[slot] = 1;
    this.cat[slot] = this.cats.acquire(row.category);
    this.auth[slot] = this.auths.acquire(row.author);
    this.doc[slot] = this.docs.acquire(row.docId);
  }

  remove(pk: number): void {
    const slot = this.slotOf.get(pk);
    if (slot === undefined) return;
    this.slotOf.delete(pk);
    this.releaseLabels(slot);
    this.live[slot] = 0;
    this.factor[slot] = 0;
    this.codes.clear(slot);
    this.freeSlots.push(slot);
  }

  clear(): void {
    this.slotOf.clear();
    this.freeSlots.length = 0;
    this.highWater = 0;
    this.live.fill(0);
    this.cats.clear();
    this.auths.clear();
    this.docs.clear();
  }

  /** Releases the interned labels of a live slot. */
  private releaseLabels(slot: number): void {
    if (this.live[slot] !== 1) return;
    this.cats.release(this.cat[slot]!);
    this.auths.release(this.auth[slot]!);
    this.docs.release(this.doc[slot]!);
  }

  private resolve(interner: Interner, v: string | string[] | undefined): FieldIds {
    const list = values(v);
    if (list === null) return null;
    const ids = new Set<number>();
    for (const s of list) {
      const id = interner.lookup(s);
      if (id !== undefined) ids.add(id);
    }
    return ids;
  }

  /**
   * The `m` chunks with the highest approximate cosine to `query` among those passing `filter`,
   * best first (ties: lower pk first).
   */
  search(query: Float32Array, m: number, filter: SearchFilter = {}): MirrorHit[] {
    if (query.length !== this.dimension) throw new Error(`query has ${query.length} dimensions, expected ${this.dimension}`);
    if (m <= 0 || this.slotOf.size === 0) return [];
    const cats = this.resolve(this.cats, filter.category);
    const auths = this.resolve(this.auths, filter.author);
    const docs = this.resolve(this.docs, filter.docId);
    if (cats?.size === 0 || auths?.size === 0 || docs?.size === 0) return [];

    const list = this.codes.slotList();
    let n = 0;
    const hw = this.highWater;
    const live = this.live;
    if (cats === null && auths === null && docs === null) {
      for (let s = 0; s < hw; s++) if (live[s] === 1) list[n++] = s;
    } else {
      // single-value sets are the common case: compare against a number instead of a Set lookup
      const c1 = cats?.size === 1 ? [...cats][0]! : -1;
      const a1 = auths?.size === 1 ? [...auths][0]! : -1;
      const d1 = docs?.size === 1 ? [...docs][0]! : -1;
      const cat = this.cat; const auth = this.auth; const doc = this.doc;
      for (let s = 0; s < hw; s++) {
        if (live[s] !== 1) continue;
        if (cats !== null && (c1 >= 0 ? cat[s] !== c1 : !cats.has(cat[s]!))) continue;
        if (auths !== null && (a1 >= 0 ? auth[s] !== a1 : !auths.has(auth[s]!))) continue;
        if (docs !== null && (d1 >= 0 ? doc[s] !== d1 : !docs.has(doc[s]!))) continue;
        list[n++] = s;
      }
    }
    if (n === 0) return [];

    const { code, factor: qf } = quantizeInt8(query, this.scratch);
    const dots = this.codes.score(code, n);
    const factor = this.factor;
    const pkOf = this.pkOf;

    const keep = Math.min(m, n);
    // bounded min-heap of (score, slot) on the kept entries; root = worst kept
    const hs = new Float64Array(keep);
    const hslot = new Int32Array(keep);
    let size = 0;
    const worse = (i: number, j: number): boolean => hs[i]! < hs[j]! || (hs[i] === hs[j] && pkOf[hslot[i]!]! > pkOf[hslot[j]!]!);
    const swap = (i: number, j: number): void => {
      const s = hs[i]!; hs[i] = hs[j]!; hs[j] = s;
      const t = hslot[i]!; hslot[i] = hslot[j]!; hslot[j] = t;
    };
    const down = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1; const r = l + 1;
        let w = i;
        if (l < size && worse(l, w)) w = l;
        if (r < size && worse(r, w)) w = r;
        if (w === i) return;
        swap(i, w);
        i = w;
      }
    };
    for (let i = 0; i < n; i++) {
      const slot = list[i]!;
      const score = dots[i]! * factor[slot]!;
      if (size < keep) {
        hs[size] = score; hslot[size] = slot;
        let c = size++;
        while (c > 0) {
          const p = (c - 1) >> 1;
          if (!worse(c, p)) break;
          swap(c, p);
          c = p;
        }
      } else if (score > hs[0]! || (score === hs[0] && pkOf[slot]! < pkOf[hslot[0]!]!)) {
        hs[0] = score; hslot[0] = slot;
        down(0);
      }
    }
    const out: MirrorHit[] = [];
    for (let i = 0; i < size; i++) out.push({ pk: pkOf[hslot[i]!]!, approx: hs[i]! * qf });
    out.sort((a, b) => b.approx - a.approx || a.pk - b.pk);
    return out;
  }
}
