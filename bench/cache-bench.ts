import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../api/app.ts';
import { loadConfig } from '../wiring/config.ts';
import { createSystem } from '../wiring/system.ts';
import { benchDocument } from './pipeline-bench.ts';

/**
 * The RAG answer cache (`npm run bench -- --only cache`): latency of a cached answer vs a fresh one,
 * and the hit rate on a workload where questions repeat (a Zipf-like mix: a few questions asked
 * often, many asked once), on the embedded system with extractive answers. Through the HTTP layer
 * (inject), so the figures include routing, validation and serialisation.
 */

export interface CacheBenchResult {
  documents: number;
  requests: number;
  distinctQuestions: number;
  hitRate: number;
  hit: { p50Ms: number; p99Ms: number };
  miss: { p50Ms: number; p99Ms: number };
  speedupP50: number;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! * 100) / 100;
};

export async function runCacheBench(opts: { quick: boolean; log: (l: string) => void }): Promise<CacheBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-cache-'));
  const config = loadConfig({}, { dataDir: dir, logLevel: 'silent', metricsEnabled: false, freshnessProbeMs: 0, embedder: 'hashing', sqliteSync: 'normal' });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  const app = await buildApp(system);
  try {
    await system.start();
    const documents = opts.quick ? 300 : 2000;
    for (let i = 0; i < documents; i += 500) await system.store.put(Array.from({ length: Math.min(500, documents - i) }, (_, j) => benchDocument(i + j, 300)));
    for (;;) {
      const ends = await system.log.offsets('tributary.content.cleaned');
      const done = await system.log.groupOffsets('embed');
      if (ends.reduce((n, e) => n + e.end, 0) >= documents && ends.every((e) => (done.find((g) => g.partition === e.partition)?.committed ?? 0) >= e.end)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const requests = opts.quick ? 300 : 2000;
    const distinct = Math.floor(requests / 5);
    // question i is asked with probability ∝ 1 / (i + 1): a few often, many rarely
    const weights = Array.from({ length: distinct }, (_, i) => 1 / (i + 1));
    const total = weights.reduce((a, b) => a + b, 0);
    let seed = 42;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const pick = () => { let r = rand() * total; for (let i = 0; i < distinct; i++) { r -= weights[i]!; if (r <= 0) return i; } return distinct - 1; };
    const hit: number[] = [];
    const miss: number[] = [];
    for (let n = 0; n < requests; n++) {
      const q = pick();
      const t0 = performance.now();
      const res = await app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: `What does document ${q} say about partition ${q % 17} and offsets?` } });
      const ms = performance.now() - t0;
      (((res.json() as { cache: { hit: boolean } }).cache.hit) ? hit : miss).push(ms);
    }
    const result: CacheBenchResult = {
      documents, requests, distinctQuestions: distinct,
      hitRate: Math.round((hit.length / requests) * 1000) / 1000,
      hit: { p50Ms: pct(hit, 50), p99Ms: pct(hit, 99) },
      miss: { p50Ms: pct(miss, 50), p99Ms: pct(miss, 99) },
      speedupP50: Math.round((pct(miss, 50) / pct(hit, 50)) * 10) / 10,
    };
    opts.log(`${requests} questions (${distinct} distinct): hit rate ${result.hitRate}; hit p50/p99 ${result.hit.p50Ms}/${result.hit.p99Ms} ms, miss ${result.miss.p50Ms}/${result.miss.p99Ms} ms`);
    return result;
  } finally {
    await app.close();
    await system.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function cacheTable(r: CacheBenchResult): string {
  return [
    'RAG answer cache (no target; extractive answers, hashing embedder)',
    '',
    `${r.requests} questions, ${r.distinctQuestions} distinct (Zipf-like), ${r.documents} documents: hit rate ${r.hitRate}`,
    `hit  p50 ${r.hit.p50Ms} ms, p99 ${r.hit.p99Ms} ms`,
    `miss p50 ${r.miss.p50Ms} ms, p99 ${r.miss.p99Ms} ms — a hit is ${r.speedupP50}× faster at p50`,
  ].join('\n');
}
