import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir, cpus, totalmem, platform, arch } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchDocument, benchFreshness, benchThroughput } from './pipeline-bench.ts';
import { BENCH_GROUPS, resultFileName, type BenchGroup } from './result-file.ts';
import type { SearchBenchResult } from './search-bench.ts';
import { cleanDocument } from '../streams/clean/index.ts';
import { chunkDocument } from '../streams/chunk/index.ts';

/**
 * `npm run bench`: every speed and memory target, measured on this machine, written as JSON
 * (bench/results/latest.json) and printed as a table of ratios against the targets.
 *   --quick        smaller sizes (a smoke run; figures not comparable with targets)
 *   --only a,b     run only some groups (BENCH_GROUPS): freshness, throughput, load, search, qdrant, mongodb, onnx, kafka, proxy, llm, traces, masking, cache, eval, finetune, peers
 * Each kind of run writes its own file (result-file.ts): a full run latest.json, `--only cache`
 * cache.json, a quick run quick.json; the last line printed names the file.
 * With QDRANT_URL answering, the qdrant group measures Qdrant beside the embedded index (search at
 * 10k and 100k chunks, freshness and chunks/s with Qdrant as the index) and the kafka group adds Kafka + Qdrant.
 */

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const quick = values.quick ?? false;
const only = values.only ? new Set(values.only.split(',').map((g) => g.trim()).filter((g) => g !== '')) : null;
const unknownGroups = only ? [...only].filter((g) => !(BENCH_GROUPS as readonly string[]).includes(g)) : [];
if (only && (only.size === 0 || unknownGroups.length > 0)) {
  process.stderr.write(`--only: ${only.size === 0 ? 'no group named' : `unknown group(s) ${unknownGroups.join(', ')}`}; the groups are ${BENCH_GROUPS.join(', ')}\n`);
  process.exit(2);
}
const want = (g: BenchGroup) => !only || only.has(g);

interface Row { metric: string; value: number; unit: string; target: number; better: 'lower' | 'higher' }
const rows: Row[] = [];
const results: Record<string, unknown> = {};

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

if (want('freshness')) {
  log('freshness: publishing 100 documents/s, then 500 documents/s…');
  const r = await benchFreshness({ rate: 100, seconds: quick ? 5 : 20 });
  const r500 = await benchFreshness({ rate: 500, seconds: quick ? 5 : 20 });
  results['freshness'] = r;
  results['freshness500'] = r500;
  rows.push({ metric: 'freshness p50 @100 docs/s', value: r.p50Ms, unit: 'ms', target: 250, better: 'lower' });
  rows.push({ metric: 'freshness p99 @100 docs/s', value: r.p99Ms, unit: 'ms', target: 250, better: 'lower' });
  rows.push({ metric: 'freshness p50 @500 docs/s', value: r500.p50Ms, unit: 'ms', target: 50, better: 'lower' });
  rows.push({ metric: 'freshness p99 @500 docs/s', value: r500.p99Ms, unit: 'ms', target: 50, better: 'lower' });
}

if (want('throughput')) {
  log('throughput: publishing a backlog and draining it (TRIBUTARY_SQLITE_SYNC=full), pipeline threads on and off, interleaved…');
  const documents = quick ? 1000 : 5000;
  const runs: Array<{ threads: string; chunksPerSecond: number; documentsPerSecond: number; chunks: number; seconds: number }> = [];
  for (const threads of ['on', 'off', 'on', 'off']) {
    const r = await benchThroughput({ documents, overrides: { sqliteSync: 'full', pipelineThreads: threads } });
    runs.push({ threads, ...r });
  }
  const best = (t: string) => runs.filter((x) => x.threads === t).reduce((a, b) => (b.chunksPerSecond > a.chunksPerSecond ? b : a));
  // chunksPerSecond: the default (threads), which the qdrant and kafka groups compare against
  results['throughput'] = { sync: 'full', documents, chunksPerSecond: best('on').chunksPerSecond, runs, threads: best('on'), inline: best('off') };
  rows.push({ metric: 'sustained throughput (pipeline threads, sync=full)', value: best('on').chunksPerSecond, unit: 'chunks/s', target: 10_000, better: 'higher' });
  rows.push({ metric: 'sustained throughput (one thread, sync=full)', value: best('off').chunksPerSecond, unit: 'chunks/s', target: 2000, better: 'higher' });
}

let loadText: string | null = null;
if (want('load')) {
  log('load: search latency idle vs while a client publishes a markdown corpus as fast as the API accepts it (hashing, then ONNX)…');
  const { loadTable, runLoadBenches } = await import('./load-bench.ts');
  const runs = await runLoadBenches({ quick, log: (l) => log(`load: ${l}`) });
  results['load'] = runs;
  loadText = runs.map(loadTable).join('\n\n');
  for (const r of runs) {
    if (r.skipped) continue;
    rows.push({ metric: `search p99 during ingestion / idle (${r.embedder})`, value: r.ratios.searchP99, unit: '×', target: 3, better: 'lower' });
    if (r.embedder === 'hashing') rows.push({ metric: 'search p99 during ingestion (hashing)', value: r.ingest.p99Ms, unit: 'ms', target: 25, better: 'lower' });
  }
}

if (want('search')) {
  const sizes = quick ? [10_000] : [10_000, 100_000];
  log(`search: building indexes of ${sizes.join(', ')} chunks…`);
  // one fresh process per size, so each resident-memory figure is that index's alone
  const script = resolve(import.meta.dirname, 'search-bench.ts');
  const r = sizes.map((n) => JSON.parse(execFileSync(process.execPath, [script, '--one', String(n)], { encoding: 'utf8', maxBuffer: 1 << 24 })) as SearchBenchResult);
  results['search'] = r;
  for (const s of r) {
    rows.push({ metric: `hybrid search p50 @${s.chunks / 1000}k chunks`, value: s.hybrid.p50, unit: 'ms', target: 30, better: 'lower' });
    rows.push({ metric: `hybrid search p99 @${s.chunks / 1000}k chunks`, value: s.hybrid.p99, unit: 'ms', target: 30, better: 'lower' });
    rows.push({ metric: `filtered hybrid p99 @${s.chunks / 1000}k chunks`, value: s.hybridFiltered.p99, unit: 'ms', target: 30, better: 'lower' });
    if (s.chunks >= 100_000) rows.push({ metric: `resident memory @${s.chunks / 1000}k chunks`, value: s.rssMb, unit: 'MB', target: 400, better: 'lower' });
  }
}

const qdrantUrl = process.env['QDRANT_URL'];
const qdrant = qdrantUrl ? await (await import('./qdrant-bench.ts')).qdrantVersion(qdrantUrl) : null;
if (qdrantUrl && !qdrant) log(`qdrant: nothing answers at QDRANT_URL=${qdrantUrl}; the Qdrant figures are left out`);

if (want('qdrant')) {
  if (!qdrantUrl || !qdrant) {
    results['qdrant'] = { skipped: qdrantUrl ? `no Qdrant answers at ${qdrantUrl}` : 'QDRANT_URL not set' };
  } else {
    const { runQdrantSearchBench, withQdrantCollection } = await import('./qdrant-bench.ts');
    const sizes = quick ? [10_000] : [10_000, 100_000];
    const search = [];
    for (const chunks of sizes) {
      log(`qdrant ${qdrant}: ${chunks} chunks in the embedded index and in Qdrant, the same queries on both…`);
      const s = await runQdrantSearchBench({ url: qdrantUrl, chunks, queries: quick ? 100 : 300 });
      search.push(s);
      const at = `@${chunks / 1000}k chunks`;
      rows.push({ metric: `Qdrant hybrid p50 ${at}`, value: s.hybrid.qdrantClientFusion.p50, unit: 'ms', target: 30, better: 'lower' });
      rows.push({ metric: `Qdrant hybrid p99 ${at}`, value: s.hybrid.qdrantClientFusion.p99, unit: 'ms', target: 30, better: 'lower' });
      rows.push({ metric: `Qdrant hybrid p99 ${at}, server-side fusion`, value: s.hybrid.qdrantServerFusion.p99, unit: 'ms', target: 30, better: 'lower' });
      log(`qdrant: top-10 agreement embedded vs Qdrant ${s.top10Agreement.embeddedVsQdrant} (dense only ${s.top10Agreement.embeddedVsQdrantDenseOnly}), client vs server fusion ${s.top10Agreement.clientVsServerFusion}`);
    }
    log('qdrant: freshness at 100 documents/s, embedded log, Qdrant index…');
    const freshness = await withQdrantCollection(qdrantUrl, (q) => benchFreshness({ rate: 100, seconds: quick ? 5 : 20, overrides: q }));
    log('qdrant: throughput, embedded log, Qdrant index…');
    const throughput = await withQdrantCollection(qdrantUrl, (q) => benchThroughput({ documents: quick ? 1000 : 5000, overrides: q }));
    const e = { freshness: results['freshness'] as { p99Ms: number; p50Ms: number } | undefined, throughput: results['throughput'] as { chunksPerSecond: number } | undefined };
    const ratios = {
      ...(e.freshness ? { freshnessP50: Math.round((freshness.p50Ms / e.freshness.p50Ms) * 100) / 100, freshnessP99: Math.round((freshness.p99Ms / e.freshness.p99Ms) * 100) / 100 } : {}),
      ...(e.throughput ? { chunksPerSecond: Math.round((throughput.chunksPerSecond / e.throughput.chunksPerSecond) * 100) / 100 } : {}),
    };
    results['qdrant'] = { version: qdrant, url: qdrantUrl, search, pipeline: { freshness, throughput, ratiosToEmbedded: ratios } };
    rows.push({ metric: 'Qdrant freshness p99 @100 docs/s', value: freshness.p99Ms, unit: 'ms', target: 250, better: 'lower' });
    rows.push({ metric: 'Qdrant sustained throughput', value: throughput.chunksPerSecond, unit: 'chunks/s', target: 2000, better: 'higher' });
  }
}

if (want('mongodb')) {
  const mongodbUrl = process.env['MONGODB_URL'];
  if (!mongodbUrl) {
    results['mongodb'] = { skipped: 'MONGODB_URL not set (a MongoDB replica set)' };
  } else {
    // MongoDB write → change stream → the relay → the log → clean → embed → searchable, in one process
    log('mongodb: freshness at 100 documents/s from the MongoDB write, through the change-stream relay…');
    try {
      const r = await benchFreshness({ rate: 100, seconds: quick ? 5 : 20, overrides: { mongodbUrl } });
      const e = results['freshness'] as { p50Ms: number; p99Ms: number } | undefined;
      results['mongodb'] = { relay: r, ...(e ? { ratiosToEmbedded: { freshnessP50: Math.round((r.p50Ms / e.p50Ms) * 100) / 100, freshnessP99: Math.round((r.p99Ms / e.p99Ms) * 100) / 100 } } : {}), debezium: 'not measured by this runner' };
      rows.push({ metric: 'MongoDB + relay freshness p99 @100 docs/s', value: r.p99Ms, unit: 'ms', target: 500, better: 'lower' });
    } catch (err) {
      log(`mongodb: ${(err as Error).message}`);
      results['mongodb'] = { failed: (err as Error).message };
    }
  }
}

if (want('onnx')) {
  const modelDir = process.env['TRIBUTARY_ONNX_MODEL_DIR'] ?? join(homedir(), '.cache/tributary/models/all-MiniLM-L6-v2-onnx-int8');
  if (!existsSync(join(modelDir, 'config.json'))) {
    log(`onnx: no model at ${modelDir}; run \`node cli/main.ts models pull minilm --dir ${join(modelDir, '..')}\` to include this figure`);
    results['onnx'] = { skipped: `no model at ${modelDir}` };
  } else {
    log('onnx: raw embedder throughput vs whole pipeline on the same texts…');
    const { createEmbedder } = await import('../wiring/models.ts');
    const { loadConfig } = await import('../wiring/config.ts');
    const embedder = await createEmbedder(loadConfig({}, { embedder: 'onnx', onnxModelDir: modelDir, embedMaxBatch: 32 }));
    const n = quick ? 40 : 150;
    const words = 120;
    // the exact chunk texts the pipeline will embed
    const texts: string[] = [];
    for (let i = 0; i < n; i++) {
      const d = benchDocument(i, words);
      const cleaned = cleanDocument({ _id: `d${i}`, category: d.category, author: d.author, content: d.content, title: d.title ?? null, url: null, source: null, externalId: null, metadata: null }, { version: 1, sourceTsMs: 0, nowMs: 0 });
      texts.push(...chunkDocument(cleaned, { maxTokens: 256, overlapTokens: 32 }).map((c) => c.text));
    }
    await embedder.embed(texts.slice(0, 4)); // warm-up
    // interleaved rounds (raw, pipeline, raw, pipeline, …): a noisy neighbour hits both sides alike;
    // the reported ratio is the median of the rounds
    const rounds = quick ? 1 : 3;
    const ratios: number[] = [];
    const perRound: Array<{ rawChunksPerSecond: number; pipelineChunksPerSecond: number }> = [];
    for (let round = 0; round < rounds; round++) {
      const t0 = performance.now();
      for (let i = 0; i < texts.length; i += 32) await embedder.embed(texts.slice(i, i + 32));
      const rawPerSecond = texts.length / ((performance.now() - t0) / 1000);
      const pipeline = await benchThroughput({ documents: n, words, overrides: { embedder: 'onnx', onnxModelDir: modelDir, embedMaxBatch: 32 } });
      ratios.push(pipeline.chunksPerSecond / rawPerSecond);
      perRound.push({ rawChunksPerSecond: Math.round(rawPerSecond * 10) / 10, pipelineChunksPerSecond: pipeline.chunksPerSecond });
    }
    await embedder.close();
    ratios.sort((x, y) => x - y);
    const ratio = ratios[Math.floor(ratios.length / 2)]!;
    results['onnx'] = { model: modelDir.split('/').pop(), chunks: texts.length, rounds: perRound, medianRatio: Math.round(ratio * 100) / 100 };
    rows.push({ metric: 'ONNX pipeline / raw embedder', value: Math.round(ratio * 100) / 100, unit: 'ratio', target: 0.8, better: 'higher' });
  }
}

if (want('kafka')) {
  log('kafka: the same workload in Kafka mode on a real broker…');
  const { runKafkaBench } = await import('./kafka-bench.ts');
  const embedded = {
    freshness: results['freshness'] as { p50Ms: number; p99Ms: number } | undefined,
    throughput: results['throughput'] as { chunksPerSecond: number } | undefined,
  };
  const r = await runKafkaBench({ quick, embedded, log: (l) => log(`kafka: ${l}`), ...(qdrant && qdrantUrl ? { qdrantUrl } : {}) });
  results['kafka'] = r;
  rows.push({ metric: 'Kafka freshness p50 @100 docs/s', value: r.freshness.p50Ms, unit: 'ms', target: 500, better: 'lower' });
  rows.push({ metric: 'Kafka freshness p99 @100 docs/s', value: r.freshness.p99Ms, unit: 'ms', target: 500, better: 'lower' });
  log(`kafka: ${r.throughput.chunksPerSecond} chunks/s`);
  if (r.ratios?.freshnessP99 !== undefined) log(`kafka: freshness p99 Kafka/embedded = ${r.ratios.freshnessP99}, chunks/s Kafka/embedded = ${r.ratios.chunksPerSecond}`);
  log(`kafka: ${r.backlog.messages} -message backlog drained in ${r.backlog.drainSeconds} s`);
  if (r.qdrant) {
    rows.push({ metric: 'Kafka + Qdrant freshness p99 @100 docs/s', value: r.qdrant.freshness.p99Ms, unit: 'ms', target: 500, better: 'lower' });
    log(`kafka + qdrant: freshness p50/p99 ${r.qdrant.freshness.p50Ms}/${r.qdrant.freshness.p99Ms} ms, ${r.qdrant.throughput.chunksPerSecond} chunks/s; ratios to embedded ${JSON.stringify(r.qdrant.ratios ?? {})}`);
    const p = r.qdrant.processes;
    rows.push({ metric: 'Kafka + Qdrant chunks/s, 1 embed process', value: p.oneEmbed.chunksPerSecond, unit: 'chunks/s', target: 4000, better: 'higher' });
    rows.push({ metric: 'Kafka + Qdrant chunks/s, 2 embed processes', value: p.twoEmbed.chunksPerSecond, unit: 'chunks/s', target: 4000, better: 'higher' });
    log(`kafka + qdrant, consumer processes: 1 embed ${p.oneEmbed.chunksPerSecond} chunks/s, 2 embed ${p.twoEmbed.chunksPerSecond} chunks/s (scaling ${p.scaling})`);
    if (!quick) {
      const { processesMarkdown } = await import('./kafka-processes-bench.ts');
      const file = resolve(import.meta.dirname, 'results', 'kafka-qdrant-profile.md');
      mkdirSync(resolve(import.meta.dirname, 'results'), { recursive: true });
      writeFileSync(file, processesMarkdown(p, `${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`));
      log(`kafka + qdrant: the consumer processes' profile written to ${relative(process.cwd(), file)}`);
    }
  }
}

if (want('proxy')) {
  log('proxy: inference proxy vs the same upstream called directly…');
  const { runProxyBench } = await import('./proxy-bench.ts');
  const r = await runProxyBench(quick ? { requestsPerLevel: 400, rounds: 2, throughputSeconds: 1 } : { litellm: process.env['TRIBUTARY_BENCH_LITELLM'] });
  results['proxy'] = r;
  for (const level of r.streams) {
    rows.push({ metric: `proxy added TTFT p50 @${level.concurrency} streams`, value: level.added.ttftP50, unit: 'ms', target: 2, better: 'lower' });
    rows.push({ metric: `proxy added total p99 @${level.concurrency} streams`, value: level.added.totalP99, unit: 'ms', target: 2, better: 'lower' });
  }
  log(`proxy: max requests/s direct ${r.maxRequestsPerSecond.direct}, through Tributary ${r.maxRequestsPerSecond.proxy}${r.maxRequestsPerSecond.litellm ? `, LiteLLM ${r.maxRequestsPerSecond.litellm}` : ''}`);
}

// the local LLM has no target: its figures and ratios get a table of their own, printed after the targets
let llmText: string | null = null;
if (want('llm')) {
  const { findBenchModels, llmTable, runLlmBench } = await import('./llm-bench.ts');
  const found = findBenchModels();
  if ('skipped' in found) {
    log(`llm: ${found.skipped}`);
    results['llm'] = { skipped: found.skipped };
  } else {
    log(`llm: the local model ${found.gguf}: tokens/s, RAG latency, self-query accuracy, the proxy's added latency…`);
    const r = await runLlmBench({ ...found, quick, log: (l) => log(`llm: ${l}`) });
    results['llm'] = r;
    llmText = llmTable(r);
  }
}

let tracesText: string | null = null;
if (want('traces')) {
  log('traces: the pipeline\'s chunks/s and the RAG latency with tracing on vs off…');
  const { runTracesBench, tracesTable } = await import('./traces-bench.ts');
  const r = await runTracesBench({ quick, log: (l) => log(`traces: ${l}`) });
  results['traces'] = r;
  tracesText = tracesTable(r);
}

let maskingText: string | null = null;
if (want('masking')) {
  log('masking: the time between streamed RAG deltas with TRIBUTARY_GUARD_PII mask vs off…');
  const { maskingTable, runMaskingBench } = await import('./masking-bench.ts');
  const r = await runMaskingBench({ quick, log: (l) => log(`masking: ${l}`) });
  results['masking'] = r;
  maskingText = maskingTable(r);
}

let cacheText: string | null = null;
if (want('cache')) {
  log('cache: RAG latency on a cache hit vs a miss, and the hit rate when questions repeat…');
  const { cacheTable, runCacheBench } = await import('./cache-bench.ts');
  const r = await runCacheBench({ quick, log: (l) => log(`cache: ${l}`) });
  results['cache'] = r;
  cacheText = cacheTable(r);
}

let evalText: string | null = null;
if (want('eval')) {
  log('eval: retrieval quality per search mode on the team\'s labelled set, per embedder…');
  const { evalTable, runEvalBench } = await import('./eval-bench.ts');
  const r = await runEvalBench({ log: (l) => log(`eval: ${l}`) });
  results['eval'] = r;
  evalText = evalTable(r);
}

let finetuneText: string | null = null;
if (want('finetune')) {
  log('finetune: the trigger\'s added cost on the embedded pipeline and the time from the crossing item to the launch…');
  const { finetuneTable, runFinetuneBench } = await import('./finetune-bench.ts');
  const r = await runFinetuneBench({ quick, log: (l) => log(`finetune: ${l}`) });
  results['finetune'] = r;
  finetuneText = finetuneTable(r);
}

let peersText: string | null = null;
if (want('peers')) {
  log('peers: Tributary, Pathway, LangChain and LlamaIndex one after the other on the markdown corpus: ingest, 20 updates + 20 deletes, exactness, peak memory…');
  const { PEERS, peersTable, runPeersBench } = await import('./peers-bench.ts');
  const r = await runPeersBench({ quick, log: (l) => log(`peers: ${l}`) });
  results['peers'] = r;
  peersText = peersTable(r);
  for (const peer of PEERS) {
    const ratio = r.ratios[peer];
    if (!ratio) continue;
    rows.push({ metric: `docs/s Tributary ÷ ${peer}`, value: ratio.docsPerSecond, unit: '×', target: 1, better: 'higher' });
    rows.push({ metric: `chunks/s Tributary ÷ ${peer}`, value: ratio.chunksPerSecond, unit: '×', target: 1, better: 'higher' });
    if (ratio.reflect !== null) rows.push({ metric: `update+delete reflected, ${peer} ÷ Tributary`, value: ratio.reflect, unit: '×', target: 1, better: 'higher' });
  }
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30),
  platform: `${platform()}-${arch()}`, node: process.version, date: new Date().toISOString(), quick,
};
const table = rows.map((r) => {
  const ratio = r.better === 'lower' ? r.target / r.value : r.value / r.target;
  return { ...r, ratio: Math.round(ratio * 100) / 100, met: ratio >= 1 };
});
const outDir = resolve(import.meta.dirname, 'results');
mkdirSync(outDir, { recursive: true });
const out = { machine, targets: table, results };
// only a full run replaces latest.json; a run of some groups writes the file named after them
const outFile = join(outDir, resultFileName(quick, only));
writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');
console.log(JSON.stringify(out));
console.log(`\nTributary benchmarks — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}${quick ? ' (quick)' : ''}`);
console.log('ratio = how far past the target (≥ 1.00 means met)\n');
const w = Math.max(...table.map((t) => t.metric.length), 6);
console.log(`${'metric'.padEnd(w)}  ${'value'.padStart(10)}  unit      ${'target'.padStart(8)}  ratio  met`);
for (const t of table) {
  console.log(`${t.metric.padEnd(w)}  ${String(t.value).padStart(10)}  ${t.unit.padEnd(8)}  ${(t.better === 'lower' ? '≤' : '≥') + String(t.target).padStart(7)}  ${t.ratio.toFixed(2).padStart(5)}  ${t.met ? 'yes' : 'NO'}`);
}
if (llmText) console.log(`\n${llmText}`);
if (finetuneText) console.log(`\n${finetuneText}`);
if (cacheText) console.log(`\n${cacheText}`);
if (loadText) console.log(`\n${loadText}`);
if (tracesText) console.log(`\n${tracesText}`);
if (maskingText) console.log(`\n${maskingText}`);
if (evalText) console.log(`\n${evalText}`);
if (peersText) console.log(`\n${peersText}`);
console.log(`\nResults written to ${relative(process.cwd(), outFile) || outFile}`);
