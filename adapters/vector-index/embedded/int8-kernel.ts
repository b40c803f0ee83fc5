/**
 * A WebAssembly SIMD kernel that computes int8 dot products: for each listed slot, the dot product
 * of the query code with that slot's code, as an int32. It is the inner loop of the embedded
 * index's dense search (a brute-force scan over int8-quantised vectors, rescored exactly later).
 *
 * The module is emitted byte by byte below (no toolchain needed) from this WAT:
 *
 *   (module
 *     (import "env" "memory" (memory 1))
 *     (func (export "dots") (param $q i32) (param $codes i32) (param $idx i32) (param $n i32)
 *                           (param $dim i32) (param $out i32)
 *       (local $i i32) (local $c i32) (local $j i32) (local $acc v128) (local $a v128) (local $b v128)
 *       (block $done (loop $slots
 *         (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
 *         ;; c = codes + idx[i] * dim
 *         (local.set $c (i32.add (local.get $codes)
 *           (i32.mul (i32.load (i32.add (local.get $idx) (i32.shl (local.get $i) (i32.const 2)))) (local.get $dim))))
 *         (local.set $acc (v128.const i32x4 0 0 0 0))
 *         (local.set $j (i32.const 0))
 *         (block $row (loop $lanes
 *           (br_if $row (i32.ge_u (local.get $j) (local.get $dim)))
 *           (local.set $a (v128.load (i32.add (local.get $q) (local.get $j))))
 *           (local.set $b (v128.load (i32.add (local.get $c) (local.get $j))))
 *           (local.set $acc (i32x4.add (i32x4.add (local.get $acc)
 *             (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $a)) (i16x8.extend_low_i8x16_s (local.get $b))))
 *             (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $a)) (i16x8.extend_high_i8x16_s (local.get $b)))))
 *           (local.set $j (i32.add (local.get $j) (i32.const 16)))
 *           (br $lanes)))
 *         (i32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
 *           (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
 *                    (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
 *         (local.set $i (i32.add (local.get $i) (i32.const 1)))
 *         (br $slots)))))
 *
 * Only standard (deterministic) SIMD is used; relaxed-SIMD dot products would be ~1.5x faster but
 * their results are implementation-defined.
 */

const PAGE = 65536;

/** The slice of the WebAssembly JS API used here (the project's `lib` has no DOM/WebAssembly typings). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const name = (s: string): number[] => [...uleb(s.length), ...new TextEncoder().encode(s)];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b], br: 0x0c, brIf: 0x0d,
  get: 0x20, set: 0x21, i32Load: 0x28, i32Store: 0x36, i32Const: 0x41,
  i32GeU: 0x4f, i32Add: 0x6a, i32Mul: 0x6c, i32Shl: 0x74,
} as const;
const simd = (code: number, ...imm: number[]): number[] => [0xfd, ...uleb(code), ...imm];
const V128_LOAD = 0x00;
const V128_CONST = 0x0c;
const I32X4_EXTRACT_LANE = 0x1b;
const I16X8_EXTEND_LOW_I8X16_S = 0x87;
const I16X8_EXTEND_HIGH_I8X16_S = 0x88;
const I32X4_ADD = 0xae;
const I32X4_DOT_I16X8_S = 0xba;

const get = (i: number): number[] => [op.get, ...uleb(i)];
const set = (i: number): number[] => [op.set, ...uleb(i)];
const i32 = (n: number): number[] => [op.i32Const, ...sleb(n)];
/** memarg: alignment exponent, offset 0 */
const mem = (alignLog2: number): number[] => [alignLog2, 0];

// locals: params 0..5 = q, codes, idx, n, dim, out; then i=6, c=7, j=8, acc=9, a=10, b=11
const [Q, CODES, IDX, N, DIM, OUT, I, C, J, ACC, A, B] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] as const;

function kernelBytes(): Uint8Array {
  const body = [
    ...op.block, ...op.loop,
    ...get(I), ...get(N), op.i32GeU, op.brIf, 1,
    ...get(CODES), ...get(IDX), ...get(I), ...i32(2), op.i32Shl, op.i32Add, op.i32Load, ...mem(2), ...get(DIM), op.i32Mul, op.i32Add, ...set(C),
    ...simd(V128_CONST, ...new Array<number>(16).fill(0)), ...set(ACC),
    ...i32(0), ...set(J),
    ...op.block, ...op.loop,
    ...get(J), ...get(DIM), op.i32GeU, op.brIf, 1,
    ...get(Q), ...get(J), op.i32Add, ...simd(V128_LOAD, ...mem(4)), ...set(A),
    ...get(C), ...get(J), op.i32Add, ...simd(V128_LOAD, ...mem(4)), ...set(B),
    ...get(ACC),
    ...get(A), ...simd(I16X8_EXTEND_LOW_I8X16_S), ...get(B), ...simd(I16X8_EXTEND_LOW_I8X16_S), ...simd(I32X4_DOT_I16X8_S), ...simd(I32X4_ADD),
    ...get(A), ...simd(I16X8_EXTEND_HIGH_I8X16_S), ...get(B), ...simd(I16X8_EXTEND_HIGH_I8X16_S), ...simd(I32X4_DOT_I16X8_S), ...simd(I32X4_ADD),
    ...set(ACC),
    ...get(J), ...i32(16), op.i32Add, ...set(J),
    op.br, 0,
    ...op.end, ...op.end,
    ...get(OUT), ...get(I), ...i32(2), op.i32Shl, op.i32Add,
    ...get(ACC), ...simd(I32X4_EXTRACT_LANE, 0), ...get(ACC), ...simd(I32X4_EXTRACT_LANE, 1), op.i32Add,
    ...get(ACC), ...simd(I32X4_EXTRACT_LANE, 2), ...get(ACC), ...simd(I32X4_EXTRACT_LANE, 3), op.i32Add, op.i32Add,
    op.i32Store, ...mem(2),
    ...get(I), ...i32(1), op.i32Add, ...set(I),
    op.br, 0,
    ...op.end, ...op.end,
    ...op.end,
  ];
  const fn = [...vec([[...uleb(3), I32], [...uleb(3), V128]]), ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), 0]])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('dots'), 0x00, 0]])),
    ...section(10, vec([[...uleb(fn.length), ...fn]])),
  ]);
}

let compiled: object | null = null;

function module(): object {
  compiled ??= new wasm.Module(kernelBytes());
  return compiled;
}

/**
 * Int8 code storage plus the dot-product kernel over it, in one WebAssembly memory.
 * Layout: [query code | codes (capacity × stride) | slot list | scores]. The code region starts at
 * a fixed offset, so growing the capacity never moves existing codes.
 */
export class Int8Codes {
  /** Bytes per code: the dimension rounded up to a multiple of 16 (zero-padded). */
  readonly stride: number;
  private readonly memory: WasmMemory;
  private readonly dots: (q: number, codes: number, idx: number, n: number, dim: number, out: number) => void;
  private readonly codesAt: number;
  private cap = 0;

  constructor(dimension: number, initialCapacity = 1024) {
    this.stride = Math.ceil(dimension / 16) * 16;
    this.codesAt = Math.ceil(this.stride / 64) * 64;
    this.memory = new wasm.Memory({ initial: 1 });
    const instance = new wasm.Instance(module(), { env: { memory: this.memory } });
    this.dots = instance.exports['dots'] as typeof this.dots;
    this.ensureCapacity(initialCapacity);
  }

  get capacity(): number {
    return this.cap;
  }

  /** Grows (never shrinks) so that slots [0, n) exist, with room for a slot list and scores of n entries. */
  ensureCapacity(n: number): void {
    if (n <= this.cap) return;
    let cap = Math.max(1024, this.cap);
    while (cap < n) cap *= 2;
    const needed = this.codesAt + cap * this.stride + cap * 8;
    const have = this.memory.buffer.byteLength;
    if (needed > have) this.memory.grow(Math.ceil((needed - have) / PAGE));
    this.cap = cap;
  }

  /** Writes a code into `slot` (the tail beyond `code.length` is zeroed). */
  write(slot: number, code: Int8Array): void {
    const at = this.codesAt + slot * this.stride;
    const view = new Int8Array(this.memory.buffer, at, this.stride);
    view.set(code);
    if (code.length < this.stride) view.fill(0, code.length);
  }

  clear(slot: number): void {
    new Int8Array(this.memory.buffer, this.codesAt + slot * this.stride, this.stride).fill(0);
  }

  /** Scratch list of slots to score (capacity entries); fill the first n, then call `score(n)`. */
  slotList(): Int32Array {
    return new Int32Array(this.memory.buffer, this.codesAt + this.cap * this.stride, this.cap);
  }

  /** Dot product of `query` with each of the first n listed slots; returns the scores (valid until the next call). */
  score(query: Int8Array, n: number): Int32Array {
    const q = new Int8Array(this.memory.buffer, 0, this.stride);
    q.set(query);
    if (query.length < this.stride) q.fill(0, query.length);
    const idxAt = this.codesAt + this.cap * this.stride;
    const outAt = idxAt + this.cap * 4;
    this.dots(0, this.codesAt, idxAt, n, this.stride, outAt);
    return new Int32Array(this.memory.buffer, outAt, n);
  }
}

/**
 * Symmetric per-vector int8 quantisation: code = round(127 · v / max|v|). Returns the code and the
 * factor that turns an int8 dot product back into a cosine contribution: max|v| / (127 · ‖v‖),
 * so cos(a, b) ≈ dot(code_a, code_b) · factor_a · factor_b. A zero vector gets factor 0.
 */
export function quantizeInt8(v: Float32Array, out: Int8Array = new Int8Array(v.length)): { code: Int8Array; factor: number } {
  let maxAbs = 0;
  let norm2 = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    const a = Math.abs(x);
    if (a > maxAbs) maxAbs = a;
    norm2 += x * x;
  }
  if (maxAbs === 0 || !Number.isFinite(norm2)) {
    out.fill(0);
    return { code: out, factor: 0 };
  }
  const s = 127 / maxAbs;
  for (let i = 0; i < v.length; i++) out[i] = Math.round(v[i]! * s);
  return { code: out, factor: maxAbs / (127 * Math.sqrt(norm2)) };
}
