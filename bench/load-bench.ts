import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { percentile } from './pipeline-bench.ts';

/**
 * Queries under ingestion (`npm run bench -- --only load`): `tributary dev` (the embedded default,
 * one process, as `npm start` runs it) in a child process; this process is the clients. A searcher
 * asks `/v1/search` every 20 ms while idle, then while a publisher sends a markdown corpus (the
 * README.md files under node_modules, sorted by path) in batches of 100 through `POST
 * /v1/content` as fast as the API accepts them (a 429/503 is honoured: it waits `Retry-After`), and
 * until the pipeline has caught up. Search p50/p99 idle vs during ingestion, in the same run, as a
 * ratio; a single delete's latency idle vs during ingestion; the ingestion rate the publisher saw.
 * One run with the hashing embedder, then one with the ONNX model (all-MiniLM-L6-v2, from the models
 * cache, TRIBUTARY_ONNX_MODEL_DIR to point elsewhere) when it is there; the ONNX run publishes a
 * smaller share of the corpus (the model embeds many times slower than the hashing embedder).
 */

const ROOT = resolve(import.meta.dirname, '..');

export interface LoadBenchResult {
  embedder: string;
  /** Set when this embedder's run did not happen, and why. */
  skipped?: string;
  corpus: { documents: number; bytes: number };
  idle: { searches: number; p50Ms: number; p99Ms: number; deleteMs: number };
  ingest: { searches: number; p50Ms: number; p99Ms: number; deleteMs: number; seconds: number; docsPerSecond: number; chunksPerSecond: number | null; pushedBack: number };
  ratios: { searchP50: number; searchP99: number; delete: number };
}

/** p-th percentile (pipeline-bench's rule), in ms to two decimals; 0 for no samples. */
const pct = (xs: number[], p: number) => (xs.length === 0 ? 0 : Math.round(percentile([...xs].sort((a, b) => a - b), p) * 100) / 100);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Markdown READMEs under node_modules: a real, varied corpus that every checkout has after `npm ci`. */
export function readmeCorpus(limit: number): Array<{ category: string; author: string; title: string; content: string; source: string; externalId: string }> {
  /** Files under `dir` (sorted, depth-first) whose name `wanted` takes, into directories `enter` allows, `maxDepth` deep. */
  const walk = (dir: string, depth: number, maxDepth: number, wanted: (name: string) => boolean, enter: (name: string) => boolean, into: string[]) => {
    let entries: string[];
    try { entries = readdirSync(dir).sort(); } catch { return; }
    for (const e of entries) {
      const p = join(dir, e);
      if (wanted(e)) { into.push(p); continue; }
      if (depth < maxDepth && !e.startsWith('.') && enter(e)) {
        try { if (statSync(p).isDirectory()) walk(p, depth + 1, maxDepth, wanted, enter, into); } catch { /* a dangling link */ }
      }
    }
  };
  const isReadme = (name: string) => /^readme\.md$/i.test(name);
  const found: string[] = [];
  walk(join(ROOT, 'node_modules'), 0, 4, isReadme, (e) => e !== 'test' && e !== 'tests', found);
  // more markdown beside them (guides, changelogs) when READMEs alone are too few
  if (found.length < limit) walk(join(ROOT, 'node_modules'), 0, 5, (e) => /\.md$/i.test(e) && !isReadme(e), () => true, found);
  const docs = [];
  for (const p of found) {
    const content = readFileSync(p, 'utf8');
    if (content.length < 500 || content.length > 100_000) continue;
    const name = relative(join(ROOT, 'node_modules'), p);
    docs.push({ category: 'repository', author: name.split('/')[0]!, title: name, content, source: 'bench-readmes', externalId: name });
    if (docs.length >= limit) break;
  }
  return docs;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port')))); });
  });
}

/** `tributary dev` in a child process on a free port, with a data directory of its own; resolves once /readyz answers 200. */
export async function startDev(dataDir: string, env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'cli/main.ts'), 'dev'], {
    cwd: ROOT,
    env: { ...process.env, QDRANT_URL: '', MONGODB_URL: '', PORT: String(port), HOST: '127.0.0.1', TRIBUTARY_DATA_DIR: dataDir, TRIBUTARY_LOG_LEVEL: 'warn', TRIBUTARY_FRESHNESS_PROBE_MS: '0', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000; ;) {
    if (child.exitCode !== null) throw new Error(`tributary dev exited with ${child.exitCode}`);
    try { if ((await fetch(`${url}/readyz`)).status === 200) break; } catch { /* not yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error('tributary dev not ready in 60 s'); }
    await sleep(50);
  }
  return { url, child };
}

export async function post(url: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Searches every `everyMs` until `stop()` says so; the latency of each. */
async function searchLoop(url: string, stop: () => boolean, everyMs = 20): Promise<number[]> {
  const words = ['install', 'license', 'usage', 'configuration', 'stream', 'promise', 'typescript', 'parser', 'options', 'example'];
  const lat: number[] = [];
  for (let i = 0; !stop(); i++) {
    const t0 = performance.now();
    const r = await post(url, '/v1/search', { query: `${words[i % words.length]} ${words[(i * 7 + 3) % words.length]}`, k: 10 });
    await r.arrayBuffer();
    lat.push(performance.now() - t0);
    const wait = everyMs - (performance.now() - t0);
    if (wait > 0) await sleep(wait);
  }
  return lat;
}

/**
 * Publishes `items` through `POST /v1/content` in batches of `batch`, each as soon as the previous one
 * is accepted; a 429/503 is honoured (waits `Retry-After`, at least 50 ms, and sends the batch again).
 * The document ids in order, and how many times the API pushed back.
 */
export async function publishBatches(url: string, items: readonly object[], batch = 100): Promise<{ ids: string[]; pushedBack: number }> {
  const ids: string[] = [];
  let pushedBack = 0;
  for (let i = 0; i < items.length;) {
    const r = await post(url, '/v1/content', { items: items.slice(i, i + batch) });
    if (r.status === 429 || r.status === 503) {
      pushedBack++;
      await r.arrayBuffer();
      await sleep(Math.max(50, Number(r.headers.get('retry-after') ?? '0.1') * 1000));
      continue;
    }
    if (r.status >= 300) throw new Error(`publish answered ${r.status}: ${await r.text()}`);
    ids.push(...((await r.json()) as { ids: string[] }).ids);
    i += batch;
  }
  return { ids, pushedBack };
}

async function caughtUp(url: string): Promise<boolean> {
  const r = await fetch(`${url}/v1/ops/lag`);
  const body = await r.json() as { groups?: Array<{ group: string; lag: number }> };
  return (body.groups ?? []).filter((g) => g.group === 'clean' || g.group === 'embed').every((g) => g.lag === 0);
}

async function timedDelete(url: string, id: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/content/${id}`, { method: 'DELETE' });
  await r.arrayBuffer();
  return performance.now() - t0;
}

/** The process's tributary_chunks_indexed_total (/metrics), null when absent. */
export async function chunksIndexed(url: string): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text().catch(() => '');
  const m = /^tributary_chunks_indexed_total\s+([\d.e+]+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** The ONNX model the load bench runs when it is there (as `tributary models pull minilm` and the test setup leave it). */
export function onnxModelDir(): string {
  return process.env['TRIBUTARY_ONNX_MODEL_DIR'] ?? join(homedir(), '.cache/tributary/models/all-MiniLM-L6-v2-onnx-int8');
}

/** Both runs: the hashing embedder, then the ONNX model (skipped, saying why, when it is not there). */
export async function runLoadBenches(opts: { quick: boolean; log: (l: string) => void }): Promise<LoadBenchResult[]> {
  const runs = [await runLoadBench({ ...opts, embedder: 'hashing', documents: opts.quick ? 300 : 2500 })];
  const dir = onnxModelDir();
  if (existsSync(join(dir, 'onnx', 'model.onnx'))) {
    runs.push(await runLoadBench({ ...opts, embedder: 'onnx', documents: opts.quick ? 20 : 40, env: { TRIBUTARY_ONNX_MODEL_DIR: dir } }));
  } else {
    runs.push({ embedder: 'onnx', skipped: `no ONNX model at ${dir} (tributary models pull minilm, or TRIBUTARY_ONNX_MODEL_DIR)`, corpus: { documents: 0, bytes: 0 }, idle: { searches: 0, p50Ms: 0, p99Ms: 0, deleteMs: 0 }, ingest: { searches: 0, p50Ms: 0, p99Ms: 0, deleteMs: 0, seconds: 0, docsPerSecond: 0, chunksPerSecond: null, pushedBack: 0 }, ratios: { searchP50: 0, searchP99: 0, delete: 0 } });
  }
  return runs;
}

export async function runLoadBench(opts: { quick: boolean; log: (l: string) => void; embedder: string; documents: number; env?: Record<string, string> }): Promise<LoadBenchResult> {
  const embedder = opts.embedder;
  const corpus = readmeCorpus(opts.documents + 100);
  const seed = corpus.slice(0, 100);
  const rest = corpus.slice(100);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-load-'));
  opts.log(`${embedder}: ${corpus.length} markdown documents`);
  const { url, child } = await startDev(dir, { TRIBUTARY_EMBEDDER: embedder, ...opts.env });
  try {
    // something to search and to delete
    const seeded = (await (await post(url, '/v1/content', { items: seed })).json()) as { ids: string[] };
    while (!(await caughtUp(url))) await sleep(100);
    await sleep(500);
    // the first searches warm what a query touches (the dense mirror, the model's first run)
    await searchLoop(url, (() => { const until = Date.now() + 1_000; return () => Date.now() > until; })());

    opts.log(`idle: searching every 20 ms for ${opts.quick ? 3 : 10} s…`);
    const idleUntil = Date.now() + (opts.quick ? 3_000 : 10_000);
    const idle = await searchLoop(url, () => Date.now() > idleUntil);
    const idleDelete = await timedDelete(url, seeded.ids[0]!);

    opts.log(`ingest: publishing ${rest.length} READMEs in batches of 100 while searching every 20 ms…`);
    let publishing = true;
    let pushedBack = 0;
    const chunks0 = await chunksIndexed(url);
    const t0 = performance.now();
    const publisher = (async () => {
      pushedBack = (await publishBatches(url, rest)).pushedBack;
      publishing = false;
    })();
    let done = false;
    const deletes: number[] = [];
    const watcher = (async () => {
      await sleep(300);
      deletes.push(await timedDelete(url, seeded.ids[1]!));
      while (publishing || !(await caughtUp(url))) await sleep(100);
      done = true;
    })();
    const loaded = await searchLoop(url, () => done);
    await publisher;
    await watcher;
    const seconds = (performance.now() - t0) / 1000;
    const chunks1 = await chunksIndexed(url);
    const result: LoadBenchResult = {
      embedder,
      corpus: { documents: rest.length, bytes: rest.reduce((n, d) => n + Buffer.byteLength(d.content), 0) },
      idle: { searches: idle.length, p50Ms: pct(idle, 50), p99Ms: pct(idle, 99), deleteMs: Math.round(idleDelete * 10) / 10 },
      ingest: {
        searches: loaded.length, p50Ms: pct(loaded, 50), p99Ms: pct(loaded, 99), deleteMs: Math.round((deletes[0] ?? 0) * 10) / 10,
        seconds: Math.round(seconds * 100) / 100, docsPerSecond: Math.round(rest.length / seconds),
        chunksPerSecond: chunks0 !== null && chunks1 !== null ? Math.round((chunks1 - chunks0) / seconds) : null, pushedBack,
      },
      ratios: { searchP50: 0, searchP99: 0, delete: 0 },
    };
    result.ratios = {
      searchP50: Math.round((result.ingest.p50Ms / result.idle.p50Ms) * 100) / 100,
      searchP99: Math.round((result.ingest.p99Ms / result.idle.p99Ms) * 100) / 100,
      delete: Math.round((result.ingest.deleteMs / result.idle.deleteMs) * 100) / 100,
    };
    return result;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function loadTable(r: LoadBenchResult): string {
  if (r.skipped) return `Queries under ingestion (${r.embedder} embedder): skipped, ${r.skipped}`;
  return [
    `Queries under ingestion (${r.embedder} embedder, tributary dev in one process): ${r.corpus.documents} READMEs (${Math.round(r.corpus.bytes / 1024)} KiB) published in batches of 100 as fast as accepted`,
    '| metric | idle | during ingestion | ratio |', '|---|---|---|---|',
    `| search p50 (ms) | ${r.idle.p50Ms} | ${r.ingest.p50Ms} | ${r.ratios.searchP50}× |`,
    `| search p99 (ms) | ${r.idle.p99Ms} | ${r.ingest.p99Ms} | ${r.ratios.searchP99}× |`,
    `| delete (ms) | ${r.idle.deleteMs} | ${r.ingest.deleteMs} | ${r.ratios.delete}× |`,
    `Ingestion: ${r.ingest.docsPerSecond} docs/s${r.ingest.chunksPerSecond !== null ? `, ${r.ingest.chunksPerSecond} chunks/s` : ''} until caught up (${r.ingest.seconds} s); pushed back ${r.ingest.pushedBack} times; ${r.ingest.searches} searches during it, ${r.idle.searches} idle`,
  ].join('\n');
}
