import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { NewDocument } from '../ports/document-store.ts';
import { loadConfig } from '../wiring/config.ts';
import { createSystem, type System } from '../wiring/system.ts';

/** Pipeline benchmarks on the embedded default, in-process: freshness at a steady rate and sustained throughput. */

const VOCAB = ('stream log partition offset consumer broker vector index chunk embed cache replica snapshot cursor lag watermark '
  + 'latency throughput schema registry connector change capture event topic compaction retention leader follower quorum '
  + 'retrieval generation answer citation rerank hybrid sparse dense cosine similarity tokenizer paragraph heading section').split(' ');

export function benchDocument(i: number, words = 450): NewDocument {
  let seed = i * 2654435761 >>> 0;
  const rnd = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; };
  const paras: string[] = [];
  let left = words;
  while (left > 0) {
    const n = Math.min(left, 40 + Math.floor(rnd() * 60));
    paras.push(Array.from({ length: n }, () => VOCAB[Math.floor(rnd() * VOCAB.length)]).join(' ') + '.');
    left -= n;
  }
  return {
    category: ['article', 'post', 'repository', 'paper'][i % 4]!,
    author: `author-${i % 13}`,
    title: `Benchmark document ${i}`,
    content: `# Benchmark ${i}\n\nuniq${i}marker ${paras.join('\n\n')}`,
    source: 'bench',
    externalId: `doc-${i}`,
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

async function withSystem<T>(overrides: Record<string, unknown>, fn: (s: System) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
  const config = loadConfig({}, { dataDir: dir, logLevel: 'silent', metricsEnabled: false, freshnessProbeMs: 0, embedder: 'hashing', ...overrides });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  try {
    await system.start();
    return await fn(system);
  } finally {
    await system.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface FreshnessFigures { p50Ms: number; p99Ms: number; maxMs: number; documents: number }

/**
 * Publishes `rate` documents per second for `seconds` into a running system; freshness = publish
 * acknowledged → the document's version visible in the index. Stragglers are waited for up to
 * `graceSeconds` past the run.
 */
export async function measureFreshness(system: System, rate: number, seconds: number, graceSeconds: number): Promise<FreshnessFigures> {
  const pending = new Map<string, number>();
  const lat: number[] = [];
  const total = rate * seconds;
  const start = performance.now();
  let polling = true;
  const poller = (async () => {
    while (polling || pending.size > 0) {
      if (pending.size > 0) {
        const ids = [...pending.keys()];
        const versions = await system.index.documentVersions(ids);
        const now = performance.now();
        for (const id of ids) if (versions.get(id)?.version != null) { lat.push(now - pending.get(id)!); pending.delete(id); }
      }
      await new Promise((r) => setTimeout(r, 2));
      if (!polling && performance.now() - start > (seconds + graceSeconds) * 1000) break;
    }
  })();
  for (let sent = 0; sent < total; sent++) {
    const wait = start + (sent * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    const [res] = await system.store.put([benchDocument(1_000_000 + sent, 150)]);
    pending.set(res!.id, t0);
  }
  polling = false;
  await poller;
  lat.sort((a, b) => a - b);
  return { p50Ms: round(percentile(lat, 50)), p99Ms: round(percentile(lat, 99)), maxMs: round(lat.at(-1) ?? NaN), documents: lat.length };
}

/** Freshness at a steady rate on the embedded default. */
export async function benchFreshness(opts: { rate: number; seconds: number; overrides?: Record<string, unknown> }): Promise<FreshnessFigures> {
  return withSystem(opts.overrides ?? {}, (system) => measureFreshness(system, opts.rate, opts.seconds, 30));
}

/** Publishes `documents` as fast as the store takes them and measures the time until every chunk is indexed. */
export async function benchThroughput(opts: { documents: number; words?: number; overrides?: Record<string, unknown> }): Promise<{ chunks: number; seconds: number; chunksPerSecond: number; documentsPerSecond: number }> {
  return withSystem(opts.overrides ?? {}, async (system) => {
    const docs = Array.from({ length: opts.documents }, (_, i) => benchDocument(i, opts.words ?? 450));
    const t0 = performance.now();
    for (let i = 0; i < docs.length; i += 500) await system.store.put(docs.slice(i, i + 500));
    for (;;) {
      const groups = await system.log.groupOffsets('embed');
      const ends = await system.log.offsets('tributary.content.cleaned');
      const cleanGroups = await system.log.groupOffsets('clean');
      const cdcEnds = await system.log.offsets('tributary.cdc.tributary.documents');
      const cleanDone = cdcEnds.every((e) => (cleanGroups.find((g) => g.topic === e.topic && g.partition === e.partition)?.committed ?? 0) >= e.end);
      const embedDone = ends.every((e) => (groups.find((g) => g.topic === e.topic && g.partition === e.partition)?.committed ?? 0) >= e.end);
      if (cleanDone && embedDone) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const chunks = await system.index.count();
    return { chunks, seconds: round(seconds), chunksPerSecond: round(chunks / seconds), documentsPerSecond: round(opts.documents / seconds) };
  });
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
