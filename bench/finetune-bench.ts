import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { listDatasets } from '../api/services/finetune.ts';
import { loadConfig } from '../wiring/config.ts';
import { createSystem } from '../wiring/system.ts';
import { benchDocument, benchThroughput } from './pipeline-bench.ts';

/**
 * The finetune trigger's cost and speed (`npm run bench -- --only finetune`):
 *  - its added cost on the embedded pipeline: chunks/s of the same backlog without a dataset and with
 *    one (the trigger counting every cleaned document, storing its text, and pinning and launching a
 *    version every fifth of the backlog), interleaved rounds, the median ratio;
 *  - the time from publishing the item that crosses the threshold to the webhook receiving the
 *    launch request, with the default settle time (1 s: a burst becomes one window) and with none.
 */

export interface FinetuneBenchResult {
  documents: number;
  rounds: Array<{ withoutChunksPerSecond: number; withChunksPerSecond: number; windows: number }>;
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

export async function runFinetuneBench(opts: { quick: boolean; log: (l: string) => void }): Promise<FinetuneBenchResult> {
  const documents = opts.quick ? 500 : 3000;
  const rounds = opts.quick ? 1 : 3;
  const out: FinetuneBenchResult['rounds'] = [];
  for (let r = 0; r < rounds; r++) {
    const without = await benchThroughput({ documents });
    const rx = await receiver();
    try {
      const withDataset = await benchThroughput({
        documents,
        // no settle time: windows open and are pinned and launched while the backlog drains
        overrides: { finetuneDatasets: [{ name: 'bench', source: 'content', threshold: Math.floor(documents / 5), settleMs: 0, launcher: { type: 'webhook', url: rx.url } }] },
      });
      out.push({ withoutChunksPerSecond: without.chunksPerSecond, withChunksPerSecond: withDataset.chunksPerSecond, windows: rx.deliveries.length });
      opts.log(`round ${r + 1}: ${without.chunksPerSecond} chunks/s without a dataset, ${withDataset.chunksPerSecond} with (${rx.deliveries.length} launches during the run)`);
    } finally {
      await rx.close();
    }
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
  for (const l of r.crossingToLaunch) {
    lines.push(`crossing item → launch request, settle ${l.settleMs} ms: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms (${l.windows} windows)`);
  }
  return lines.join('\n');
}
