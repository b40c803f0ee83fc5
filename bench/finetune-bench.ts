import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { listDatasets, listJobs } from '../api/services/finetune.ts';
import { loadConfig } from '../wiring/config.ts';
import { createSystem } from '../wiring/system.ts';
import { benchDocument, benchThroughput } from './pipeline-bench.ts';

/**
 * The finetune trigger's cost and speed (`npm run bench -- --only finetune`):
 *  - its added cost on the embedded pipeline: chunks/s of the same backlog without a dataset and with
 *    one (the trigger counting every cleaned document, storing its text, and pinning and launching a
 *    version every fifth of the backlog), interleaved rounds, the median ratio; and when the trigger
 *    has caught up and launched every window;
 *  - the time from publishing the item that crosses the threshold to the webhook receiving the
 *    launch request, with the default settle time (1 s: a burst becomes one window) and with none.
 */

export interface FinetuneBenchResult {
  documents: number;
  rounds: Array<{ withoutChunksPerSecond: number; withChunksPerSecond: number; windows: number; triggerCaughtUpSeconds: number; pipelineSeconds: number }>;
  medianRatio: number;
  crossingToLaunch: Array<{ settleMs: number; windows: number; p50Ms: number; p99Ms: number; maxMs: number }>;
}

async function receiver(): Promise<{ url: string; deliveries: number[]; close(): Promise<void> }> {
  const deliveries: number[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      deliveries.push(performance.now());
      res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/finetune`,
    deliveries,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 10) / 10;
};

async function crossingToLaunch(settleMs: number, windows: number, threshold: number): Promise<{ settleMs: number; windows: number; p50Ms: number; p99Ms: number; maxMs: number }> {
  const rx = await receiver();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-ft-'));
  const config = loadConfig({}, {
    dataDir: dir, logLevel: 'silent', metricsEnabled: false, embedder: 'hashing', sqliteSync: 'normal',
    finetuneDatasets: [{ name: 'bench', source: 'content', threshold, settleMs, launcher: { type: 'webhook', url: rx.url } }] as never,
  });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  const latencies: number[] = [];
  try {
    await system.start();
    let n = 0;
    for (let w = 0; w < windows; w++) {
      await system.store.put(Array.from({ length: threshold - 1 }, () => benchDocument(n++, 120)));
      // wait until the trigger has counted them (its published status), so only the crossing item is timed
      for (;;) {
        const ds = (await listDatasets(system))[0]!;
        if (ds.pending === threshold - 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const before = rx.deliveries.length;
      const t0 = performance.now();
      await system.store.put([benchDocument(n++, 120)]);
      while (rx.deliveries.length === before) await new Promise((r) => setTimeout(r, 2));
      latencies.push(rx.deliveries[before]! - t0);
    }
  } finally {
    await system.close();
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { settleMs, windows, p50Ms: pct(latencies, 50), p99Ms: pct(latencies, 99), maxMs: pct(latencies, 100) };
}

/**
 * The same backlog as the throughput bench, with the trigger keeping a dataset: the pipeline's chunks/s
 * (its cost on the pipeline), then how long the trigger takes to catch up with the cleaned topic and
 * to launch every window the backlog opened.
 */
async function throughputWithDataset(documents: number, threshold: number): Promise<{ chunksPerSecond: number; triggerCaughtUpSeconds: number; windows: number }> {
  const rx = await receiver();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-ft-'));
  const config = loadConfig({}, {
    dataDir: dir, logLevel: 'silent', metricsEnabled: false, embedder: 'hashing',
    // no settle time: windows open, are pinned and launched while the backlog drains
    finetuneDatasets: [{ name: 'bench', source: 'content', threshold, settleMs: 0, launcher: { type: 'webhook', url: rx.url } }] as never,
  });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  try {
    await system.start();
    const docs = Array.from({ length: documents }, (_, i) => benchDocument(i, 450));
    const t0 = performance.now();
    for (let i = 0; i < docs.length; i += 500) await system.store.put(docs.slice(i, i + 500));
    const caughtUp = async (group: string, topic: string) => {
      const ends = await system.log.offsets(topic);
      const committed = await system.log.groupOffsets(group);
      return ends.every((e) => (committed.find((g) => g.topic === e.topic && g.partition === e.partition)?.committed ?? 0) >= e.end);
    };
    while (!(await caughtUp('clean', 'tributary.cdc.tributary.documents') && await caughtUp('embed', 'tributary.content.cleaned'))) await new Promise((r) => setTimeout(r, 20));
    const pipelineSeconds = (performance.now() - t0) / 1000;
    const chunks = await system.index.count();
    // caught up: every cleaned record counted, no window left to pin, every job's launch request received
    const settled = async () => {
      if (!(await caughtUp('finetune-trigger', 'tributary.content.cleaned'))) return false;
      const ds = (await listDatasets(system))[0]!;
      if (ds.pending >= threshold || ds.lastWindow?.outcome === 'pending') return false;
      const jobs = await listJobs(system);
      return jobs.length > 0 && jobs.every((j) => j.state === 'launched') && rx.deliveries.length >= jobs.length;
    };
    while (!(await settled())) await new Promise((r) => setTimeout(r, 20));
    return { chunksPerSecond: Math.round((chunks / pipelineSeconds) * 10) / 10, triggerCaughtUpSeconds: Math.round((performance.now() - t0) / 100) / 10, windows: rx.deliveries.length };
  } finally {
    await system.close();
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runFinetuneBench(opts: { quick: boolean; log: (l: string) => void }): Promise<FinetuneBenchResult> {
  const documents = opts.quick ? 500 : 3000;
  const rounds = opts.quick ? 1 : 3;
  const out: FinetuneBenchResult['rounds'] = [];
  // interleaved rounds (without, with, without, with …): a noisy neighbour hits both sides alike
  for (let r = 0; r < rounds; r++) {
    const without = await benchThroughput({ documents });
    const withDataset = await throughputWithDataset(documents, Math.floor(documents / 5));
    out.push({ withoutChunksPerSecond: without.chunksPerSecond, withChunksPerSecond: withDataset.chunksPerSecond, windows: withDataset.windows, triggerCaughtUpSeconds: withDataset.triggerCaughtUpSeconds, pipelineSeconds: Math.round((without.chunks / without.chunksPerSecond) * 10) / 10 });
    opts.log(`round ${r + 1}: ${without.chunksPerSecond} chunks/s without a dataset, ${withDataset.chunksPerSecond} with one; the trigger caught up and launched ${withDataset.windows} windows ${withDataset.triggerCaughtUpSeconds} s after the first write`);
  }
  const ratios = out.map((o) => o.withChunksPerSecond / o.withoutChunksPerSecond).sort((a, b) => a - b);
  const latency = [];
  for (const settleMs of [1000, 0]) {
    const l = await crossingToLaunch(settleMs, opts.quick ? 3 : 10, 10);
    opts.log(`crossing → launch request with settle ${settleMs} ms: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms`);
    latency.push(l);
  }
  return { documents, rounds: out, medianRatio: Math.round(ratios[Math.floor(ratios.length / 2)]! * 100) / 100, crossingToLaunch: latency };
}

export function finetuneTable(r: FinetuneBenchResult): string {
  const lines = ['Continuous training (no target: the trigger\'s cost and speed)', ''];
  const last = r.rounds.map((x) => x);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  lines.push(`embedded pipeline, ${r.documents} documents: ${med(last.map((x) => x.withoutChunksPerSecond))} chunks/s without a dataset, ${med(last.map((x) => x.withChunksPerSecond))} with one — ratio ${r.medianRatio.toFixed(2)} (median of ${r.rounds.length})`);
  lines.push(`the trigger caught up and launched ${med(last.map((x) => x.windows))} windows ${med(last.map((x) => x.triggerCaughtUpSeconds))} s after the first write (the pipeline alone: ${med(last.map((x) => x.pipelineSeconds))} s)`);
  for (const l of r.crossingToLaunch) {
    lines.push(`crossing item → launch request, settle ${l.settleMs} ms: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms (${l.windows} windows)`);
  }
  return lines.join('\n');
}
