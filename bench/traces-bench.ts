import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../api/app.ts';
import { loadConfig } from '../wiring/config.ts';
import { createSystem } from '../wiring/system.ts';
import { benchDocument, benchThroughput } from './pipeline-bench.ts';

/**
 * RAG traces on vs off (`npm run bench -- --only traces`), in the same run, interleaved: the embedded
 * pipeline's chunks/s (traces are written by RAG queries, not by the pipeline: this checks they cost
 * it nothing) and the RAG latency through the HTTP layer (extractive answers, no cache), where each
 * response appends its trace to tributary.rag.traces.
 */

export interface TracesBenchResult {
  documents: number;
  queries: number;
  rounds: Array<{ traces: 'on' | 'off'; chunksPerSecond: number; ragP50Ms: number; ragP99Ms: number }>;
  ratios: { chunksPerSecond: number; ragP50: number; ragP99: number };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! * 100) / 100;
};

async function ragLatency(ragTraces: 'on' | 'off', documents: number, queries: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-traces-'));
  const config = loadConfig({}, { dataDir: dir, logLevel: 'silent', metricsEnabled: false, freshnessProbeMs: 0, embedder: 'hashing', sqliteSync: 'normal', ragTraces });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  const app = await buildApp(system);
  try {
    await system.start();
    await system.store.put(Array.from({ length: documents }, (_, i) => benchDocument(i, 300)));
    for (;;) {
      const ends = await system.log.offsets('tributary.content.cleaned');
      const done = await system.log.groupOffsets('embed');
      if (ends.reduce((n, e) => n + e.end, 0) >= documents && ends.every((e) => (done.find((g) => g.partition === e.partition)?.committed ?? 0) >= e.end)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const lat: number[] = [];
    for (let q = 0; q < queries; q++) {
      const t0 = performance.now();
      await app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: `What does document ${q} say about partition ${q % 17}?`, cache: false } });
      lat.push(performance.now() - t0);
    }
    return lat;
  } finally {
    await app.close();
    await system.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runTracesBench(opts: { quick: boolean; log: (l: string) => void }): Promise<TracesBenchResult> {
  const documents = opts.quick ? 300 : 2000;
  const queries = opts.quick ? 100 : 500;
  const rounds: TracesBenchResult['rounds'] = [];
  for (let r = 0; r < (opts.quick ? 1 : 3); r++) {
    for (const t of ['off', 'on'] as const) {
      const tp = await benchThroughput({ documents, overrides: { ragTraces: t } });
      const lat = await ragLatency(t, Math.min(documents, 1000), queries);
      rounds.push({ traces: t, chunksPerSecond: tp.chunksPerSecond, ragP50Ms: pct(lat, 50), ragP99Ms: pct(lat, 99) });
      opts.log(`round ${r + 1}, traces ${t}: ${tp.chunksPerSecond} chunks/s; RAG p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms`);
    }
  }
  const med = (t: 'on' | 'off', f: (x: TracesBenchResult['rounds'][number]) => number) => {
    const xs = rounds.filter((x) => x.traces === t).map(f).sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)]!;
  };
  const ratio = (f: (x: TracesBenchResult['rounds'][number]) => number) => Math.round((med('on', f) / med('off', f)) * 100) / 100;
  return { documents, queries, rounds, ratios: { chunksPerSecond: ratio((x) => x.chunksPerSecond), ragP50: ratio((x) => x.ragP50Ms), ragP99: ratio((x) => x.ragP99Ms) } };
}

export function tracesTable(r: TracesBenchResult): string {
  const med = (t: 'on' | 'off', f: (x: TracesBenchResult['rounds'][number]) => number) => {
    const xs = r.rounds.filter((x) => x.traces === t).map(f).sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)]!;
  };
  return [
    'RAG traces on vs off (no target; medians of interleaved rounds)',
    '',
    `pipeline: ${med('off', (x) => x.chunksPerSecond)} chunks/s off, ${med('on', (x) => x.chunksPerSecond)} on (ratio ${r.ratios.chunksPerSecond})`,
    `RAG p50: ${med('off', (x) => x.ragP50Ms)} ms off, ${med('on', (x) => x.ragP50Ms)} ms on (ratio ${r.ratios.ragP50}); p99: ${med('off', (x) => x.ragP99Ms)} → ${med('on', (x) => x.ragP99Ms)} ms (ratio ${r.ratios.ragP99})`,
  ].join('\n');
}
