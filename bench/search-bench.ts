import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../wiring/config.ts';
import { createVectorIndex } from '../wiring/vector-index.ts';
import type { ChunkPoint, SearchFilter, SearchRequest } from '../ports/vector-index.ts';

/**
 * Search benchmark for the embedded vector index: builds an index of N synthetic chunks
 * (dimension 256, ~100-word texts from a Zipf-distributed 5,000-word vocabulary plus topic words,
 * 5 categories, 20 authors, 8 chunks per document), then measures ingest throughput, hybrid search
 * latency over 300 queries (half of them filtered), dense recall@10 against exact brute force, and
 * the process's resident memory.
 *
 * Vectors are topic-clustered (200 topics, centroid + noise), like real embeddings, rather than
 * uniform noise, where "nearest" means nothing. Everything is seeded, so runs are comparable.
 *
 *   node bench/search-bench.ts              # 10k and 100k, each in a fresh process, prints a table
 *   node bench/search-bench.ts 10000 50000  # other sizes
 */

export interface SearchBenchOptions {
  chunks: number[];
  dimension?: number;
  queries?: number;
  /** SQLite synchronous mode of the index (default "full", the configuration's default). */
  synchronous?: 'full' | 'normal';
}

export interface SearchBenchResult {
  chunks: number;
  dimension: number;
  chunksPerDocument: number;
  ingestSeconds: number;
  ingestChunksPerSecond: number;
  /** First search: builds the in-memory int8 scan from SQLite. */
  firstSearchMs: number;
  queries: number;
  hybrid: LatencyStats;
  hybridFiltered: LatencyStats;
  denseOnly: LatencyStats;
  keywordOnly: LatencyStats;
  denseRecallAt10: number;
  rssMb: number;
  heapUsedMb: number;
  fileMb: number;
}

export interface LatencyStats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const DIM = 256;
const TOPICS = 200;
const VOCAB = 5000;
const WORDS_PER_CHUNK = 100;
export const CHUNKS_PER_DOC = 8;
const CATEGORIES = ['engineering', 'science', 'business', 'culture', 'sports'];
const AUTHORS = Array.from({ length: 20 }, (_, i) => `author-${i}`);

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

function normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

const SYLLABLES = ['ka', 'ro', 'mi', 'te', 'sun', 'vo', 'li', 'dra', 'pe', 'no', 'xi', 'gu', 'ba', 'fen', 'to', 'qua', 'zel', 'mor'];

export class Corpus {
  readonly dimension: number;
  readonly vocabulary: string[];
  private readonly centroids: Float32Array[];
  private readonly topicWords: string[][];
  /** Zipf CDF over the vocabulary (s = 1). */
  private readonly cdf: Float64Array;

  constructor(dimension: number) {
    this.dimension = dimension;
    const rand = prng(42);
    const words = new Set<string>();
    while (words.size < VOCAB) {
      const n = 2 + Math.floor(rand() * 3);
      let w = '';
      for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)];
      words.add(w);
    }
    this.vocabulary = [...words];
    this.cdf = new Float64Array(VOCAB);
    let acc = 0;
    for (let i = 0; i < VOCAB; i++) {
      acc += 1 / (i + 1);
      this.cdf[i] = acc;
    }
    for (let i = 0; i < VOCAB; i++) this.cdf[i]! /= acc;
    this.centroids = Array.from({ length: TOPICS }, () => normalize(Float32Array.from({ length: dimension }, () => gaussian(rand))));
    // each topic favours 12 mid-frequency words
    this.topicWords = Array.from({ length: TOPICS }, () => Array.from({ length: 12 }, () => this.vocabulary[200 + Math.floor(rand() * (VOCAB - 200))]!));
  }

  private zipfWord(rand: () => number): string {
    const u = rand();
    let lo = 0; let hi = VOCAB - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid]! < u) lo = mid + 1; else hi = mid;
    }
    return this.vocabulary[lo]!;
  }

  topicOf(doc: number): number {
    return Math.floor(prng(doc * 7919 + 1)() * TOPICS);
  }

  /** The vector of chunk `c` of document `doc` (deterministic). */
  vector(doc: number, c: number): Float32Array {
    const rand = prng(doc * 1_000_003 + c * 17 + 5);
    const centroid = this.centroids[this.topicOf(doc)]!;
    const noise = 0.8 + rand() * 0.6;
    const v = new Float32Array(this.dimension);
    for (let i = 0; i < v.length; i++) v[i] = centroid[i]! + (noise * gaussian(rand)) / Math.sqrt(this.dimension) * 1.5;
    return normalize(v);
  }

  text(doc: number, c: number): string {
    const rand = prng(doc * 2_000_003 + c * 31 + 9);
    const topic = this.topicWords[this.topicOf(doc)]!;
    const out: string[] = [];
    for (let i = 0; i < WORDS_PER_CHUNK; i++) out.push(rand() < 0.15 ? topic[Math.floor(rand() * topic.length)]! : this.zipfWord(rand));
    return out.join(' ');
  }

  points(doc: number, version: number): ChunkPoint[] {
    const docId = `doc-${doc}`;
    return Array.from({ length: CHUNKS_PER_DOC }, (_, c) => ({
      id: `${docId}-${c}`,
      vector: this.vector(doc, c),
      payload: {
        doc_id: docId,
        doc_version: version,
        chunk_index: c,
        content_hash: `${doc}:${c}`,
        category: CATEGORIES[doc % CATEGORIES.length]!,
        author: AUTHORS[(doc * 7) % AUTHORS.length]!,
        source_ts: 1_700_000_000_000 + doc,
        embed_model: 'bench',
        title: `Document ${doc}`,
        url: null,
        text: this.text(doc, c),
      },
    }));
  }

  query(q: number, docs: number): { vector: Float32Array; text: string; filter: SearchFilter | undefined } {
    const rand = prng(q * 104_729 + 3);
    const doc = Math.floor(rand() * docs);
    const topic = this.topicOf(doc);
    const centroid = this.centroids[topic]!;
    const vector = normalize(Float32Array.from(centroid, (x) => x + (gaussian(rand) / Math.sqrt(this.dimension)) * 1.2));
    const words = this.topicWords[topic]!;
    const terms = [words[Math.floor(rand() * words.length)]!, words[Math.floor(rand() * words.length)]!, this.zipfWord(rand), this.zipfWord(rand)];
    let filter: SearchFilter | undefined;
    switch (q % 6) {
      case 1: filter = { category: CATEGORIES[doc % CATEGORIES.length]! }; break;
      case 3: filter = { author: [AUTHORS[(doc * 7) % AUTHORS.length]!, AUTHORS[Math.floor(rand() * AUTHORS.length)]!] }; break;
      case 5: filter = { docId: `doc-${doc}` }; break;
      default: filter = undefined;
    }
    return { vector, text: terms.join(' '), filter };
  }
}

export function stats(samples: number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => Number((s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] ?? 0).toFixed(2));
  return { n: s.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) };
}

function fileSizeMb(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(path + suffix).size;
    } catch { /* no WAL */ }
  }
  return Math.round(total / 1e5) / 10;
}

async function benchOne(n: number, opts: SearchBenchOptions): Promise<SearchBenchResult> {
  const dimension = opts.dimension ?? DIM;
  const queries = opts.queries ?? 300;
  const corpus = new Corpus(dimension);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-search-bench-'));
  const path = join(dir, 'index.db');
  const index = createVectorIndex(loadConfig({}, { dataDir: dir, sqliteSync: opts.synchronous ?? 'full' }), dimension);
  try {
    await index.init();
    const docs = Math.ceil(n / CHUNKS_PER_DOC);
    let genMs = 0;
    const t0 = performance.now();
    for (let d = 0; d < docs; d++) {
      const g = performance.now();
      const points = corpus.points(d, 1);
      genMs += performance.now() - g;
      await index.replaceDocument(`doc-${d}`, 1, points);
    }
    const ingestSeconds = (performance.now() - t0 - genMs) / 1000;

    const f0 = performance.now();
    await index.search({ k: 10, vector: corpus.query(0, docs).vector, text: 'warm' });
    const firstSearchMs = performance.now() - f0;

    const hybrid: number[] = [];
    const filtered: number[] = [];
    const dense: number[] = [];
    const keyword: number[] = [];
    for (let q = 0; q < queries; q++) {
      const { vector, text, filter } = corpus.query(q, docs);
      const req: SearchRequest = { k: 10, vector, text, filter };
      let t = performance.now();
      await index.search(req);
      const ms = performance.now() - t;
      hybrid.push(ms);
      if (filter) filtered.push(ms);
      if (q % 3 === 0) {
        t = performance.now(); await index.search({ k: 10, vector, filter }); dense.push(performance.now() - t);
        t = performance.now(); await index.search({ k: 10, text, filter }); keyword.push(performance.now() - t);
      }
    }
    const mem = process.memoryUsage();

    // dense recall@10 against exact brute force over the regenerated vectors (no extra memory)
    const recallQueries = Array.from({ length: 20 }, (_, i) => corpus.query(10_000 + i * 6, docs).vector);
    const best = recallQueries.map(() => [] as Array<{ id: string; s: number }>);
    for (let d = 0; d < docs; d++) {
      for (let c = 0; c < CHUNKS_PER_DOC; c++) {
        const v = corpus.vector(d, c);
        recallQueries.forEach((qv, i) => {
          let s = 0;
          for (let j = 0; j < v.length; j++) s += v[j]! * qv[j]!;
          const list = best[i]!;
          if (list.length < 10 || s > list[list.length - 1]!.s) {
            list.push({ id: `doc-${d}-${c}`, s });
            list.sort((a, b) => b.s - a.s);
            if (list.length > 10) list.pop();
          }
        });
      }
    }
    let found = 0;
    for (let i = 0; i < recallQueries.length; i++) {
      const hits = await index.search({ k: 10, vector: recallQueries[i]! });
      const truth = new Set(best[i]!.map((b) => b.id));
      found += hits.filter((h) => truth.has(h.id)).length;
    }

    const chunks = docs * CHUNKS_PER_DOC;
    return {
      chunks,
      dimension,
      chunksPerDocument: CHUNKS_PER_DOC,
      ingestSeconds: Number(ingestSeconds.toFixed(2)),
      ingestChunksPerSecond: Math.round(chunks / ingestSeconds),
      firstSearchMs: Number(firstSearchMs.toFixed(1)),
      queries,
      hybrid: stats(hybrid),
      hybridFiltered: stats(filtered),
      denseOnly: stats(dense),
      keywordOnly: stats(keyword),
      denseRecallAt10: Number((found / (recallQueries.length * 10)).toFixed(3)),
      rssMb: Math.round(mem.rss / 1e6),
      heapUsedMb: Math.round(mem.heapUsed / 1e6),
      fileMb: fileSizeMb(path),
    };
  } finally {
    await index.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the benchmark for each size in this process and returns the results. */
export async function runSearchBench(opts: SearchBenchOptions): Promise<SearchBenchResult[]> {
  const out: SearchBenchResult[] = [];
  for (const n of opts.chunks) out.push(await benchOne(n, opts));
  return out;
}

function table(results: SearchBenchResult[]): string {
  const rows: Array<[string, (r: SearchBenchResult) => string]> = [
    ['chunks', (r) => String(r.chunks)],
    ['ingest chunks/s', (r) => String(r.ingestChunksPerSecond)],
    ['first search (builds int8 scan) ms', (r) => String(r.firstSearchMs)],
    ['hybrid p50 / p99 ms', (r) => `${r.hybrid.p50} / ${r.hybrid.p99}`],
    ['hybrid filtered p50 / p99 ms', (r) => `${r.hybridFiltered.p50} / ${r.hybridFiltered.p99}`],
    ['dense-only p50 / p99 ms', (r) => `${r.denseOnly.p50} / ${r.denseOnly.p99}`],
    ['keyword-only p50 / p99 ms', (r) => `${r.keywordOnly.p50} / ${r.keywordOnly.p99}`],
    ['dense recall@10', (r) => String(r.denseRecallAt10)],
    ['RSS MB (whole process)', (r) => String(r.rssMb)],
    ['index file MB', (r) => String(r.fileMb)],
  ];
  const w0 = Math.max(...rows.map(([l]) => l.length));
  const cols = results.map((r) => Math.max(...rows.map(([, f]) => f(r).length)));
  return rows.map(([label, f]) => `${label.padEnd(w0)}  ${results.map((r, i) => f(r).padStart(cols[i]!)).join('  ')}`).join('\n');
}

async function main(argv: string[]): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  if (argv[0] === '--one') {
    const [r] = await runSearchBench({ chunks: [Number(argv[1])] });
    process.stdout.write(JSON.stringify(r));
    return;
  }
  const sizes = argv.length > 0 ? argv.map(Number) : [10_000, 100_000];
  // one fresh process per size, so each RSS figure is that size's alone
  const results = sizes.map((n) => JSON.parse(execFileSync(process.execPath, [self, '--one', String(n)], { encoding: 'utf8', maxBuffer: 1 << 24 })) as SearchBenchResult);
  console.log(table(results));
  console.log(JSON.stringify(results, null, 2));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
