import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { IndexOperation, SearchHit, SearchRequest, VectorIndex } from '../ports/vector-index.ts';
import { chunkPointId } from '../schemas/ids.ts';
import { loadConfig } from '../wiring/config.ts';
import { createVectorIndex } from '../wiring/vector-index.ts';
import { CHUNKS_PER_DOC, Corpus, stats, type LatencyStats } from './search-bench.ts';

/**
 * Qdrant beside the embedded index, on the same synthetic corpus and the same queries as the search
 * benchmark (bench/search-bench.ts): ingest chunks/s, hybrid search p50/p99 with the fusion done by
 * Tributary (client: one batch request, dense + sparse, fused here) and by Qdrant (server: one Query
 * API request, prefetch dense + sparse, `rrf`), and how much the top 10 agree — embedded vs Qdrant,
 * and client vs server fusion. Queries run interleaved (embedded, client, server, …) so a noisy
 * neighbour hits all three alike. Needs QDRANT_URL; each run uses collections of its own and drops them.
 *
 *   QDRANT_URL=http://127.0.0.1:6333 node bench/qdrant-bench.ts 10000 100000
 */

export interface QdrantSearchResult {
  chunks: number;
  qdrantVersion: string;
  ingestChunksPerSecond: { embedded: number; qdrant: number };
  queries: number;
  hybrid: { embedded: LatencyStats; qdrantClientFusion: LatencyStats; qdrantServerFusion: LatencyStats };
  filteredHybridP99: { embedded: number; qdrantClientFusion: number; qdrantServerFusion: number };
  /** Mean share of the top 10 two searches have in common (1 = the same ten chunks). */
  top10Agreement: { embeddedVsQdrant: number; clientVsServerFusion: number; embeddedVsQdrantDenseOnly: number };
}

/** The Qdrant server's version, or null when QDRANT_URL does not answer. */
export async function qdrantVersion(url: string): Promise<string | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!r.ok) return null;
    return ((await r.json()) as { version?: string }).version ?? 'unknown';
  } catch {
    return null;
  }
}

const key = (h: SearchHit) => `${h.payload.doc_id}#${h.payload.chunk_index}`;

function agreement(a: SearchHit[], b: SearchHit[]): number {
  const set = new Set(a.map(key));
  const n = Math.max(a.length, b.length);
  return n === 0 ? 1 : b.filter((h) => set.has(key(h))).length / n;
}

async function timed<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const out = await fn();
  samples.push(performance.now() - t);
  return out;
}

async function ingest(index: VectorIndex, corpus: Corpus, docs: number): Promise<number> {
  const t0 = performance.now();
  let gen = 0;
  for (let d = 0; d < docs; d += 32) {
    const g = performance.now();
    const ops: IndexOperation[] = [];
    for (let x = d; x < Math.min(docs, d + 32); x++) {
      const points = corpus.points(x, 1).map((p) => ({ ...p, id: chunkPointId(p.payload.doc_id, p.payload.chunk_index) }));
      ops.push({ kind: 'replace', docId: `doc-${x}`, version: 1, points });
    }
    gen += performance.now() - g;
    await index.applyBatch(ops);
  }
  return Math.round((docs * CHUNKS_PER_DOC) / ((performance.now() - t0 - gen) / 1000));
}

export async function runQdrantSearchBench(opts: { url: string; chunks: number; queries?: number; dimension?: number }): Promise<QdrantSearchResult> {
  const version = await qdrantVersion(opts.url);
  if (!version) throw new Error(`no Qdrant answers at ${opts.url}`);
  const dimension = opts.dimension ?? 256;
  const queries = opts.queries ?? 300;
  const corpus = new Corpus(dimension);
  const docs = Math.ceil(opts.chunks / CHUNKS_PER_DOC);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-qdrant-bench-'));
  const collection = `tributary_bench_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const qdrantConfig = (fusion: 'client' | 'server') => loadConfig({}, { dataDir: dir, qdrantUrl: opts.url, qdrantCollection: collection, qdrantFusion: fusion, qdrantTimeoutMs: 120_000 });
  const embedded = createVectorIndex(loadConfig({}, { dataDir: dir, sqliteSync: 'normal' }), dimension);
  const client = createVectorIndex(qdrantConfig('client'), dimension);
  const server = createVectorIndex(qdrantConfig('server'), dimension);
  try {
    await embedded.init();
    await client.init();
    await server.init();
    const ingestEmbedded = await ingest(embedded, corpus, docs);
    const ingestQdrant = await ingest(client, corpus, docs);
    // Qdrant indexes segments in the background: wait until it says the collection is green
    const admin = new QdrantClient({ url: opts.url, checkCompatibility: false });
    for (let i = 0; i < 600 && (await admin.getCollection(collection)).status !== 'green'; i++) await new Promise((r) => setTimeout(r, 500));
    // warm both (the embedded index builds its int8 scan on the first search)
    for (const index of [embedded, client, server]) await index.search({ k: 10, vector: corpus.query(0, docs).vector, text: 'warm' });

    const lat = { e: [] as number[], c: [] as number[], s: [] as number[] };
    const filtered = { e: [] as number[], c: [] as number[], s: [] as number[] };
    let agreeEQ = 0; let agreeCS = 0; let agreeDense = 0; let denseQueries = 0;
    for (let q = 0; q < queries; q++) {
      const { vector, text, filter } = corpus.query(q, docs);
      const req: SearchRequest = { k: 10, vector, text, ...(filter ? { filter } : {}) };
      const e = await timed(lat.e, () => embedded.search(req));
      const c = await timed(lat.c, () => client.search(req));
      const s = await timed(lat.s, () => server.search(req));
      if (filter) { filtered.e.push(lat.e.at(-1)!); filtered.c.push(lat.c.at(-1)!); filtered.s.push(lat.s.at(-1)!); }
      agreeEQ += agreement(e, c);
      agreeCS += agreement(c, s);
      if (q % 3 === 0) {
        const dense: SearchRequest = { k: 10, vector, ...(filter ? { filter } : {}) };
        agreeDense += agreement(await embedded.search(dense), await client.search(dense));
        denseQueries++;
      }
    }
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    return {
      chunks: docs * CHUNKS_PER_DOC,
      qdrantVersion: version,
      ingestChunksPerSecond: { embedded: ingestEmbedded, qdrant: ingestQdrant },
      queries,
      hybrid: { embedded: stats(lat.e), qdrantClientFusion: stats(lat.c), qdrantServerFusion: stats(lat.s) },
      filteredHybridP99: { embedded: stats(filtered.e).p99, qdrantClientFusion: stats(filtered.c).p99, qdrantServerFusion: stats(filtered.s).p99 },
      top10Agreement: { embeddedVsQdrant: r3(agreeEQ / queries), clientVsServerFusion: r3(agreeCS / queries), embeddedVsQdrantDenseOnly: r3(agreeDense / denseQueries) },
    };
  } finally {
    await Promise.all([embedded.close(), client.close(), server.close()]);
    const admin = new QdrantClient({ url: opts.url, checkCompatibility: false });
    for (const name of [collection, `${collection}_doc_versions`]) await admin.deleteCollection(name).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const url = process.env['QDRANT_URL'];
  if (!url) throw new Error('set QDRANT_URL (e.g. http://127.0.0.1:6333)');
  const sizes = argv.length > 0 ? argv.map(Number) : [10_000, 100_000];
  for (const chunks of sizes) console.log(JSON.stringify(await runQdrantSearchBench({ url, chunks }), null, 2));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

/** Runs `fn` with config overrides that put the index in a fresh Qdrant collection, dropped afterwards. */
export async function withQdrantCollection<T>(url: string, fn: (overrides: { qdrantUrl: string; qdrantCollection: string }) => Promise<T>): Promise<T> {
  const collection = `tributary_bench_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  try {
    return await fn({ qdrantUrl: url, qdrantCollection: collection });
  } finally {
    const admin = new QdrantClient({ url, checkCompatibility: false });
    for (const name of [collection, `${collection}_doc_versions`]) await admin.deleteCollection(name).catch(() => undefined);
  }
}
