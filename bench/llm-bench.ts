import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, homedir, loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Pool } from 'undici';
import type { ChatMessage, ChatOptions, Llm } from '../ports/llm.ts';
import { startServer, type RunningServer } from '../api/server.ts';
import { answerQuestion, type RagRequest, type RagResult } from '../api/services/rag.ts';
import { DEMO_CORPUS_DIR } from '../cli/commands/demo.ts';
import { loadItems } from '../cli/files.ts';
import { loadConfig } from '../wiring/config.ts';
import { pulledModelPath } from '../wiring/model-catalogue.ts';
import { openLanguageModels, type LanguageModels } from '../wiring/models.ts';
import { createSystem, type System } from '../wiring/system.ts';
import { percentile } from './pipeline-bench.ts';

/**
 * The local LLM (a GGUF model run in-process by llama.cpp) on this machine, in four parts:
 *  1. tokens/s — load time, generation tokens/s of one stream, prompt evaluation tokens/s (time to
 *     first token of a ~1000-token prompt), and aggregate tokens/s with 1, 2 and 4 parallel sequences,
 *     each with one thread per core (the default) and with one thread;
 *  2. RAG answer latency — `answerQuestion` in-process on the system `npm start` builds (embedded mode,
 *     the ONNX embedder when pulled, the demo corpus indexed), extractive vs the local LLM (all steps,
 *     and the answer step only), 1 and 4 questions at a time, with the time of each step;
 *  3. self-query accuracy — bench/data/self-query-questions.jsonl through `answerQuestion` (self-query
 *     on, expansion and rerank off), rules only vs the local LLM;
 *  4. the proxy's added latency on the local upstream — the same small chat completion straight to the
 *     model and through `/v1/chat/completions` over loopback HTTP, the API serving that same model.
 *
 *   node bench/llm-bench.ts [--quick] [--json] [--parts tokens,rag,selfquery,proxy]
 *
 * The model: TRIBUTARY_BENCH_LLM_GGUF, else the one `tributary models pull smollm2` put in
 * ~/.cache/tributary/models (TRIBUTARY_BENCH_MODELS_DIR); `findBenchModels` says why not when absent.
 */

export type LlmBenchPart = 'tokens' | 'rag' | 'selfquery' | 'proxy';
export const LLM_BENCH_PARTS: readonly LlmBenchPart[] = ['tokens', 'rag', 'selfquery', 'proxy'];

export interface LlmBenchOptions {
  gguf: string;
  /** Where pulled models are (the ONNX embedder of the RAG system is taken from here when present). */
  modelsDir: string;
  quick?: boolean;
  parts?: readonly LlmBenchPart[];
  log?: (msg: string) => void;
}

export interface Stats { p50: number; p99: number; mean: number; n: number }

export interface TokensResult {
  /** Load of model + context (LlamaCppInfo.loadMs) of the first model opened (llama.cpp's binaries loaded into the process, the file in the page cache). Later loads: `loadMs` of each level. */
  loadMs: number;
  generationPrompt: string;
  /** One stream, for the default thread count (one per core) and for one thread, measured interleaved. */
  single: Array<{
    threads: number;
    generation: {
      repetitions: number; maxTokens: number; completionTokens: number[];
      /** Completion tokens after the first / (total − time to first token): the decoding rate. Median over repetitions. */
      tokensPerSecond: number;
      /** Completion tokens / total time, time to first token included. Median. */
      endToEndTokensPerSecond: number;
      perRepetition: number[];
    };
    promptEval: {
      /** Tokens of the user message under the model's tokenizer (the chat template adds a few); a different prompt each time (no prefix reuse). */
      promptTokens: number; repetitions: number;
      ttftMs: number; tokensPerSecond: number; perRepetition: number[];
    };
  }>;
  /** N parallel sequences (TRIBUTARY_LLM_CONCURRENCY=N) with N generations at once, per thread count. */
  concurrency: Array<{
    threads: number; concurrency: number; rounds: number;
    /** Completion tokens of the streams, fewest and most (of at most 128: a stream that ends early leaves the others running alone). */
    completionTokens: { min: number; max: number };
    /** All completion tokens of the round / wall time of the round (first start → last end). Median over rounds. */
    aggregateTokensPerSecond: number;
    /** Median over streams of each stream's own completion tokens / its time (time to first token included). */
    perStreamTokensPerSecond: number;
    /** Median over rounds of this level's aggregate / concurrency 1's (same thread count) in the same round. */
    ratioToConcurrency1: number;
    perRound: number[];
    loadMs: number;
  }>;
}

type RagStep = 'selfQuery' | 'expansion' | 'search' | 'rerank' | 'answer' | 'other';

export interface RagRun {
  name: 'extractive' | 'llm, all steps' | 'llm, answer only';
  flags: Pick<RagRequest, 'expand' | 'selfQuery' | 'rerank'>;
  concurrency: number;
  totalMs: Stats;
  /** p50 of each step's time (LLM steps timed around the model call, queue wait included; `other` = the rest). */
  stepP50Ms: Partial<Record<RagStep, number>>;
  /** How often each optional step was applied (a skipped LLM step costs no time). */
  applied: { selfQuery: number; expansion: number; rerank: number };
  /** Why optional steps were skipped ("step: reason" → how many questions), other than by the request's flags. */
  skipped: Record<string, number>;
  /** Answers cut at their token budget (llm runs). */
  answersCutAtLimit: number;
  completionTokensP50: number | null;
  errors: string[];
}

export interface RagBenchResult {
  via: string;
  embedder: string;
  llm: string;
  llmConcurrency: number;
  corpus: { documents: number; chunks: number; indexedMs: number };
  questions: string[];
  runs: RagRun[];
  /** p50 and p99 of each llm run / the extractive run at the same concurrency. */
  ratiosToExtractive: Array<{ name: string; concurrency: number; p50: number; p99: number }>;
}

export interface FieldScore { precision: number; recall: number; truePositives: number; falsePositives: number; falseNegatives: number }
export interface SelfQueryMethodResult {
  method: 'rules' | 'llm';
  exactMatch: number;
  correct: number;
  author: FieldScore;
  category: FieldScore;
  /** Questions whose self-query model call failed (the step was skipped: no filter), right or wrong. */
  llmFailures: Array<{ question: string; reason: string }>;
  /** Time of the self-query model call per question (llm only; the rules take well under a millisecond). */
  modelCallMs: Stats | null;
  wrong: Array<{ question: string; expected: Expected; got: Expected; note?: string }>;
}
export interface SelfQueryBenchResult { questions: number; file: string; methods: SelfQueryMethodResult[] }

export interface ProxyOverLocalResult {
  model: string;
  threads: number;
  request: { prompt: string; maxTokens: number; temperature: number };
  /** Requests per side (each: one non-streaming and one streaming), in `rounds` alternating blocks. */
  requestsEach: number;
  rounds: number;
  direct: { totalMs: Stats; ttftMs: Stats };
  proxy: { totalMs: Stats; ttftMs: Stats };
  /** proxy − direct (ms). */
  added: { totalP50: number; totalP99: number; ttftP50: number; ttftP99: number };
  /** proxy / direct. */
  ratio: { totalP50: number; totalP99: number; ttftP50: number; ttftP99: number };
  /** Median over rounds of (proxy p50 − direct p50) within the same round: less sensitive to background load. */
  roundsAddedP50: { total: number; ttft: number };
}

export interface LlmBenchResult {
  model: { file: string; id: string; gpu: string; threads: number; contextTokens: number };
  machine: { cpu: string; cores: number; node: string };
  /** 1-minute load average when each part started and when the run ended (> cores: other work competed for the CPUs). */
  loadAverage: Record<string, number>;
  tokens?: TokensResult;
  rag?: RagBenchResult;
  selfQuery?: SelfQueryBenchResult;
  /** With the default threads (one per core), then with one thread. */
  proxy?: ProxyOverLocalResult[];
}

const DEFAULT_MODELS_DIR = join(homedir(), '.cache/tributary/models');
export const SELF_QUERY_QUESTIONS = fileURLToPath(new URL('./data/self-query-questions.jsonl', import.meta.url));

/** The model to measure, or why the group is skipped. */
export function findBenchModels(env: NodeJS.ProcessEnv = process.env): { gguf: string; modelsDir: string } | { skipped: string } {
  const modelsDir = env['TRIBUTARY_BENCH_MODELS_DIR'] ?? DEFAULT_MODELS_DIR;
  const given = env['TRIBUTARY_BENCH_LLM_GGUF'];
  if (given) return existsSync(given) ? { gguf: given, modelsDir } : { skipped: `TRIBUTARY_BENCH_LLM_GGUF=${given} does not exist` };
  const pulled = pulledModelPath(modelsDir, 'smollm2');
  if (pulled) return { gguf: pulled, modelsDir };
  return { skipped: `no GGUF model: set TRIBUTARY_BENCH_LLM_GGUF, or run \`node cli/main.ts models pull smollm2 minilm --dir ${modelsDir}\`` };
}

export async function runLlmBench(o: LlmBenchOptions): Promise<LlmBenchResult> {
  const log = o.log ?? (() => undefined);
  const quick = o.quick ?? false;
  const parts = new Set(o.parts ?? LLM_BENCH_PARTS);
  const loadAverage: Record<string, number> = {};
  const mark = (name: string) => { loadAverage[name] = Math.round(loadavg()[0]! * 100) / 100; };
  const closers: Array<() => Promise<void> | void> = [];
  try {
    // the model as the system opens it (TRIBUTARY_LLM_CONCURRENCY=1, threads = the machine's cores)
    mark('start');
    const first = await openModels(o, {}, closers);
    const info = first.local!.info!;
    const result: LlmBenchResult = {
      model: { file: basename(o.gguf), id: first.local!.modelId, gpu: info.gpu, threads: info.threads, contextTokens: info.contextTokens },
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
      loadAverage,
    };
    log(`${result.model.id}: loaded in ${info.loadMs} ms on ${info.gpu}, ${info.threads} threads, ${info.contextTokens}-token context`);
    if (parts.has('tokens')) {
      mark('tokens');
      result.tokens = await benchTokens(o, first, info.loadMs, quick, log);
    }
    if (parts.has('proxy')) {
      mark('proxy');
      // the default threads, then one thread: a model whose own time varies less shows a smaller difference
      result.proxy = [await benchProxyOverLocal(o, first, quick, log)];
      if (info.threads !== 1) result.proxy.push(await benchProxyOverLocal(o, await openModels(o, { threads: 1 }, closers), quick, log));
    }
    await closeAll(closers);
    if (parts.has('rag') || parts.has('selfquery')) {
      mark('rag');
      await withRagSystem(o, log, async (system, corpus) => {
        if (parts.has('rag')) result.rag = await benchRag(system, corpus, quick, log);
        if (parts.has('selfquery')) {
          mark('selfquery');
          result.selfQuery = await benchSelfQuery(system, log);
        }
      });
    }
    mark('end');
    return result;
  } finally {
    await closeAll(closers);
  }
}

async function closeAll(closers: Array<() => Promise<void> | void>): Promise<void> {
  for (const c of closers.splice(0).reverse()) await c();
}

/** The local model through the wiring, as the system would open it (TRIBUTARY_LLM_CONCURRENCY, TRIBUTARY_LLM_THREADS as given). */
async function openModels(o: LlmBenchOptions, s: { concurrency?: number; threads?: number }, closers: Array<() => Promise<void> | void>): Promise<LanguageModels> {
  const config = loadConfig({}, { dataDir: tmpdir(), modelsDir: o.modelsDir, llmGguf: o.gguf, ...(s.concurrency ? { llmConcurrency: s.concurrency } : {}), ...(s.threads ? { llmThreads: s.threads } : {}) });
  return openLanguageModels(config, closers);
}

// ---- 1. tokens/s ----

const GENERATION_PROMPT = 'Write a long, detailed essay about rivers: how they form, how they shape valleys, and why cities grow beside them.';
const GENERATION_TOKENS = 128;

async function benchTokens(o: LlmBenchOptions, models: LanguageModels, firstLoadMs: number, quick: boolean, log: (m: string) => void): Promise<TokensResult> {
  const reps = quick ? 2 : 5;
  const messages: ChatMessage[] = [{ role: 'user', content: GENERATION_PROMPT }];
  const closers: Array<() => Promise<void> | void> = [];
  const open = async (s: { concurrency?: number; threads?: number }) => (await openModels(o, s, closers)).local!;
  try {
    // one stream: the default threads (one per core) and one thread, repetitions interleaved
    const defaultThreads = models.local!.info!.threads;
    const single: Array<{ threads: number; llm: Llm; loadMs: number }> = [{ threads: defaultThreads, llm: models.local!, loadMs: firstLoadMs }];
    if (defaultThreads !== 1) {
      const llm = await open({ threads: 1 });
      single.push({ threads: 1, llm, loadMs: llm.info!.loadMs });
    }
    const countTokens = (t: string) => models.local!.countTokens(t);
    // a ~1000-token prompt of corpus text, a different one each time (no prefix reuse)
    const docs = (await demoCorpus()).map((d) => d.content);
    const prompts: string[] = [];
    for (let r = 0; r < (reps + 1) * single.length; r++) {
      let text = 'Summarise these notes in one sentence.\n\n';
      for (let i = 0; countTokens(text) < 1000; i++) text += `${docs[(r * 5 + i) % docs.length]!}\n\n`;
      while (countTokens(text) > 1020) text = text.slice(0, -100);
      prompts.push(text);
    }
    let nextPrompt = 0;
    const gen = single.map(() => [] as Array<{ ttftMs: number; totalMs: number; tokens: number }>);
    const pe = single.map(() => [] as Array<{ tokens: number; ttftMs: number }>);
    for (let r = -1; r < reps; r++) { // r = -1: warm-up
      for (const [i, s] of single.entries()) {
        const g = await timedStream(s.llm, messages, GENERATION_TOKENS);
        const prompt = prompts[nextPrompt++]!;
        const p = { tokens: countTokens(prompt), ttftMs: (await timedStream(s.llm, [{ role: 'user', content: prompt }], 1)).ttftMs };
        if (r >= 0) { gen[i]!.push(g); pe[i]!.push(p); }
      }
    }
    const singleOut: TokensResult['single'] = single.map((s, i) => {
      const decode = gen[i]!.map((g) => (g.tokens - 1) / ((g.totalMs - g.ttftMs) / 1000));
      const rates = pe[i]!.map((p) => p.tokens / (p.ttftMs / 1000));
      const out = {
        threads: s.threads,
        generation: {
          repetitions: reps, maxTokens: GENERATION_TOKENS, completionTokens: gen[i]!.map((g) => g.tokens),
          tokensPerSecond: r1(median(decode)), endToEndTokensPerSecond: r1(median(gen[i]!.map((g) => g.tokens / (g.totalMs / 1000)))), perRepetition: decode.map(r1),
        },
        promptEval: {
          promptTokens: Math.round(median(pe[i]!.map((p) => p.tokens))), repetitions: reps,
          ttftMs: r1(median(pe[i]!.map((p) => p.ttftMs))), tokensPerSecond: r1(median(rates)), perRepetition: rates.map(r1),
        },
      };
      log(`tokens: ${s.threads} thread(s): generation ${out.generation.tokensPerSecond} tokens/s, prompt evaluation ${out.promptEval.tokensPerSecond} tokens/s (${out.promptEval.promptTokens}-token prompt, TTFT ${out.promptEval.ttftMs} ms)`);
      return out;
    });

    // aggregate tokens/s with N sequences and N generations at once: one model per level, loaded side
    // by side, rounds interleaved (1, 2, 4, 1, 2, 4, …) so background load falls on every level alike
    const levels: Array<{ threads: number; n: number; llm: Llm; loadMs: number; rounds: Array<{ aggregate: number; perStream: number[]; tokens: number[] }> }> = [];
    for (const s of single) {
      for (const n of [1, 2, 4]) {
        const llm = n === 1 ? null : await open({ concurrency: n, ...(s.threads !== defaultThreads ? { threads: s.threads } : {}) });
        levels.push({ threads: s.threads, n, llm: llm ?? s.llm, loadMs: llm ? llm.info!.loadMs : s.loadMs, rounds: [] });
      }
    }
    const round = async (n: number, llm: Llm) => {
      const t0 = performance.now();
      const streams = await Promise.all(Array.from({ length: n }, () => timedStream(llm, messages, GENERATION_TOKENS)));
      const wall = (performance.now() - t0) / 1000;
      return { aggregate: streams.reduce((sum, x) => sum + x.tokens, 0) / wall, perStream: streams.map((x) => x.tokens / (x.totalMs / 1000)), tokens: streams.map((x) => x.tokens) };
    };
    for (const l of levels) await round(l.n, l.llm); // warm-up: every sequence evaluates the prompt once
    const rounds = quick ? 1 : 5;
    for (let i = 0; i < rounds; i++) {
      for (const l of levels) l.rounds.push(await round(l.n, l.llm));
      log(`tokens: round ${i + 1}/${rounds}, tokens/s in all at ${levels.map((l) => `${l.n}×${l.threads}t ${r1(l.rounds.at(-1)!.aggregate)}`).join(', ')}`);
    }
    const concurrency: TokensResult['concurrency'] = levels.map((l) => {
      const base = levels.find((x) => x.threads === l.threads && x.n === 1)!;
      return {
        threads: l.threads, concurrency: l.n, rounds,
        completionTokens: { min: Math.min(...l.rounds.flatMap((x) => x.tokens)), max: Math.max(...l.rounds.flatMap((x) => x.tokens)) },
        aggregateTokensPerSecond: r1(median(l.rounds.map((x) => x.aggregate))),
        perStreamTokensPerSecond: r1(median(l.rounds.flatMap((x) => x.perStream))),
        ratioToConcurrency1: r2(median(l.rounds.map((x, i) => x.aggregate / base.rounds[i]!.aggregate))),
        perRound: l.rounds.map((x) => r1(x.aggregate)), loadMs: l.loadMs,
      };
    });
    return { loadMs: firstLoadMs, generationPrompt: GENERATION_PROMPT, single: singleOut, concurrency };
  } finally {
    await closeAll(closers);
  }
}

/** One streamed generation: time to the first piece, total time, completion tokens. */
async function timedStream(llm: Llm, messages: ChatMessage[], maxTokens: number): Promise<{ ttftMs: number; totalMs: number; tokens: number }> {
  let tokens = 0;
  let first = 0;
  const t0 = performance.now();
  for await (const piece of llm.stream(messages, { temperature: 0, maxTokens, onFinish: (f) => { tokens = f.usage?.completionTokens ?? 0; } })) {
    if (first === 0 && piece.length > 0) first = performance.now();
  }
  const end = performance.now();
  return { ttftMs: (first || end) - t0, totalMs: end - t0, tokens };
}

// ---- 2. RAG answer latency ----

/** Questions over the demo corpus, for the latency runs. */
export const RAG_QUESTIONS = [
  'How do I keep a vector index in sync with MongoDB?',
  'Why does a consumer group rebalance during long batches?',
  'What do M, efConstruction and efSearch control in HNSW?',
  'How does reciprocal rank fusion combine lexical and dense results?',
  'What is a tombstone in a compacted topic?',
  'How should documents be chunked for retrieval-augmented generation?',
  'Why should embeddings be normalised before cosine similarity?',
  'What did Maya Okafor write about exactly-once delivery?',
  'papers by Priya Raman about query expansion',
  'How do versioned upserts make a derived index idempotent?',
] as const;

interface CorpusInfo { documents: number; chunks: number; indexedMs: number }

async function demoCorpus() {
  const files = readdirSync(DEMO_CORPUS_DIR).filter((f) => f.endsWith('.json')).sort().map((f) => join(DEMO_CORPUS_DIR, f));
  const loaded = await loadItems(files, DEMO_CORPUS_DIR, { author: 'demo', source: 'demo' });
  if (loaded.invalid.length > 0) throw new Error(`the demo corpus has invalid items: ${loaded.invalid.map((i) => i.label).join(', ')}`);
  return loaded.items.map((i) => i.item);
}

/**
 * The system `npm start` builds (embedded mode, the pulled models, TRIBUTARY_LLM_CONCURRENCY=1) on a
 * temporary data directory, with the demo corpus published to the store and indexed.
 */
async function withRagSystem(o: LlmBenchOptions, log: (m: string) => void, fn: (s: System, corpus: CorpusInfo) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-llm-bench-'));
  const config = loadConfig({}, { dataDir, modelsDir: o.modelsDir, llmGguf: o.gguf, logLevel: 'silent', metricsEnabled: false });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  try {
    await system.start();
    const items = await demoCorpus();
    const t0 = performance.now();
    const ids = (await system.store.put(items)).map((r) => r.id);
    for (;;) {
      const versions = await system.index.documentVersions(ids);
      if (ids.every((id) => versions.get(id)?.version != null)) break;
      if (performance.now() - t0 > 180_000) throw new Error('the demo corpus was not indexed within 180 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const corpus = { documents: ids.length, chunks: await system.index.count(), indexedMs: Math.round(performance.now() - t0) };
    log(`rag: ${corpus.documents} demo documents (${corpus.chunks} chunks) indexed in ${corpus.indexedMs} ms by ${system.embedder.id}`);
    await fn(system, corpus);
  } finally {
    await system.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

type Deps = Parameters<typeof answerQuestion>[0];
type LlmStep = 'selfQuery' | 'expansion' | 'rerank' | 'answer';
/** The RAG steps' model calls, told apart by the response schema they ask for (the answer asks for none). */
const STEP_OF_SCHEMA: Record<string, LlmStep> = { search_filters: 'selfQuery', search_queries: 'expansion', ranking: 'rerank' };

/**
 * The Llm port around the system's LLM, adding up the time of each step's model calls into `ms`.
 * With `answer: 'skip'` the answer call returns an empty text at once (the self-query runs: the
 * self-query step comes first and does not depend on it).
 */
function timedLlm(inner: Llm, ms: Partial<Record<LlmStep, number>>, answer: 'run' | 'skip' = 'run'): Llm {
  const stepOf = (options: ChatOptions): LlmStep => (options.responseSchema ? STEP_OF_SCHEMA[options.responseSchema.name] ?? 'answer' : 'answer');
  return {
    id: inner.id,
    contextTokens: inner.contextTokens,
    ...(inner.answerTokens !== undefined ? { answerTokens: inner.answerTokens } : {}),
    // the steps are told apart by the schema they ask for: keep the model's capability
    ...(inner.structuredOutput !== undefined ? { structuredOutput: inner.structuredOutput } : {}),
    async chat(messages, options = {}) {
      const step = stepOf(options);
      if (step === 'answer' && answer === 'skip') return { text: '', finishReason: 'stop' };
      const t0 = performance.now();
      try {
        return await inner.chat(messages, options);
      } finally {
        ms[step] = (ms[step] ?? 0) + performance.now() - t0;
      }
    },
    stream: (messages, options) => inner.stream(messages, options),
  };
}

interface Asked { result: RagResult; totalMs: number; stepMs: Partial<Record<RagStep, number>> }

async function ask(system: System, withLlm: boolean, query: string, flags: RagRun['flags'], answer: 'run' | 'skip' = 'run'): Promise<Asked> {
  const llmMs: Partial<Record<LlmStep, number>> = {};
  const deps: Deps = {
    embedder: system.embedder, index: system.index, metrics: system.metrics, logger: system.logger, prompts: system.prompts,
    llm: withLlm && system.llm ? timedLlm(system.llm, llmMs, answer) : null,
  };
  const t0 = performance.now();
  const result = await answerQuestion(deps, { query, k: 5, ...flags });
  const totalMs = performance.now() - t0;
  const stepMs: Partial<Record<RagStep, number>> = { ...llmMs, search: result.steps.search.ms };
  stepMs.other = Math.max(0, totalMs - Object.values(stepMs).reduce((s, x) => s + x, 0));
  return { result, totalMs, stepMs };
}

async function benchRag(system: System, corpus: CorpusInfo, quick: boolean, log: (m: string) => void): Promise<RagBenchResult> {
  if (!system.llm) throw new Error('the RAG system has no LLM: the local model was not loaded');
  const questions = quick ? RAG_QUESTIONS.slice(0, 4) : [...RAG_QUESTIONS];
  const all = { expand: true, selfQuery: true, rerank: true };
  const configs: Array<{ name: RagRun['name']; withLlm: boolean; flags: RagRun['flags']; passes: number }> = [
    { name: 'extractive', withLlm: false, flags: all, passes: quick ? 1 : 5 },
    // one pass each: a question takes seconds, and 4 at a time wait for one another in the model's queue
    { name: 'llm, answer only', withLlm: true, flags: { expand: false, selfQuery: false, rerank: false }, passes: 1 },
    { name: 'llm, all steps', withLlm: true, flags: all, passes: 1 },
  ];
  // warm-up: every path once (embedder, index, grammars of the schemas)
  for (const c of configs) await ask(system, c.withLlm, questions[0]!, c.flags);
  const runs: RagRun[] = [];
  for (const c of configs) {
    for (const concurrency of [1, 4]) {
      const work = Array.from({ length: c.passes }, () => questions).flat();
      log(`rag: ${c.name}, ${concurrency} question(s) at a time, ${work.length} questions…`);
      const asked: Asked[] = [];
      const errors: string[] = [];
      await mapConcurrent(work, concurrency, async (q) => {
        try {
          asked.push(await ask(system, c.withLlm, q, c.flags));
        } catch (e) {
          errors.push(`${q}: ${(e as Error).message}`);
        }
      });
      const steps: RagStep[] = ['selfQuery', 'expansion', 'search', 'rerank', 'answer', 'other'];
      const stepP50Ms: RagRun['stepP50Ms'] = {};
      for (const s of steps) {
        const xs = asked.map((a) => a.stepMs[s]).filter((x): x is number => x !== undefined);
        if (xs.length > 0) stepP50Ms[s] = r1(median(xs));
      }
      const tokens = asked.map((a) => a.result.steps.llm?.completionTokens).filter((x): x is number => x !== undefined);
      const run: RagRun = {
        name: c.name, flags: c.flags, concurrency, totalMs: stats(asked.map((a) => a.totalMs)), stepP50Ms,
        applied: {
          selfQuery: asked.filter((a) => a.result.steps.selfQuery.status === 'applied').length,
          expansion: asked.filter((a) => a.result.steps.expansion.status === 'applied').length,
          rerank: asked.filter((a) => a.result.steps.rerank.status === 'applied').length,
        },
        skipped: countSkips(asked.map((a) => a.result)),
        answersCutAtLimit: asked.filter((a) => a.result.steps.llm?.finishReason === 'length').length,
        completionTokensP50: tokens.length > 0 ? median(tokens) : null,
        errors,
      };
      runs.push(run);
      log(`rag: ${c.name} @${concurrency}: p50 ${run.totalMs.p50} ms, p99 ${run.totalMs.p99} ms (n=${run.totalMs.n}${errors.length ? `, ${errors.length} errors` : ''})`);
    }
  }
  const ratiosToExtractive = runs.filter((r) => r.name !== 'extractive').map((r) => {
    const e = runs.find((x) => x.name === 'extractive' && x.concurrency === r.concurrency)!;
    return { name: r.name, concurrency: r.concurrency, p50: r1(r.totalMs.p50 / e.totalMs.p50), p99: r1(r.totalMs.p99 / e.totalMs.p99) };
  });
  return {
    via: 'answerQuestion (api/services/rag.ts) in-process on the system createSystem builds (no HTTP); k = 5',
    embedder: system.embedder.id, llm: system.llm.id, llmConcurrency: system.config.llmConcurrency,
    corpus, questions, runs, ratiosToExtractive,
  };
}

function countSkips(results: RagResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    for (const step of ['selfQuery', 'expansion', 'rerank'] as const) {
      const st = r.steps[step];
      if (st.status === 'skipped' && st.reason !== 'disabled by request') {
        const key = `${step}: ${st.reason.length > 160 ? `${st.reason.slice(0, 160)}…` : st.reason}`;
        out[key] = (out[key] ?? 0) + 1;
      }
    }
  }
  return out;
}

async function mapConcurrent<T>(items: readonly T[], concurrency: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

// ---- 3. self-query accuracy ----

interface Expected { author: string | null; category: string | null }

export function readSelfQueryQuestions(file = SELF_QUERY_QUESTIONS): Array<{ question: string; expected: Expected }> {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    const q = JSON.parse(l) as { question?: unknown; expected?: { author?: unknown; category?: unknown } };
    const ok = (v: unknown) => v === null || typeof v === 'string';
    if (typeof q.question !== 'string' || !q.expected || !ok(q.expected.author) || !ok(q.expected.category)) {
      throw new Error(`${file}:${i + 1}: expected {"question": string, "expected": {"author": string|null, "category": string|null}}`);
    }
    return { question: q.question, expected: { author: q.expected.author as string | null, category: q.expected.category as string | null } };
  });
}

async function benchSelfQuery(system: System, log: (m: string) => void): Promise<SelfQueryBenchResult> {
  const questions = readSelfQueryQuestions();
  const methods: SelfQueryMethodResult[] = [];
  for (const method of ['rules', 'llm'] as const) {
    log(`selfquery: ${questions.length} questions, ${method === 'rules' ? 'rules only (no LLM)' : `the local LLM (${system.llm?.id})`}…`);
    const got: Array<{ expected: Expected; got: Expected; question: string; note?: string; ms: number | null }> = [];
    for (const { question, expected } of questions) {
      // the service's own path: answerQuestion with self-query on and expansion/rerank off
      const a = await ask(system, method === 'llm', question, { selfQuery: true, expand: false, rerank: false }, 'skip');
      const sq = a.result.steps.selfQuery;
      const filters = sq.status === 'applied' ? sq.filters : {};
      const note = sq.status === 'skipped' && !sq.reason.startsWith('no known author') ? sq.reason : undefined;
      got.push({ question, expected, got: { author: filters.author ?? null, category: filters.category ?? null }, ...(note ? { note } : {}), ms: a.stepMs.selfQuery ?? null });
    }
    const score = (field: keyof Expected): FieldScore => {
      let tp = 0, fp = 0, fn = 0;
      for (const g of got) {
        const e = g.expected[field], p = g.got[field];
        if (p !== null && p === e) tp++;
        else {
          if (p !== null) fp++;
          if (e !== null) fn++;
        }
      }
      return { precision: r2(tp / Math.max(1, tp + fp)), recall: r2(tp / Math.max(1, tp + fn)), truePositives: tp, falsePositives: fp, falseNegatives: fn };
    };
    const wrong = got.filter((g) => g.got.author !== g.expected.author || g.got.category !== g.expected.category);
    const m: SelfQueryMethodResult = {
      method, correct: got.length - wrong.length, exactMatch: r2((got.length - wrong.length) / got.length),
      author: score('author'), category: score('category'),
      modelCallMs: method === 'llm' ? stats(got.map((g) => g.ms).filter((x): x is number => x !== null)) : null,
      wrong: wrong.map((g) => ({ question: g.question, expected: g.expected, got: g.got, ...(g.note ? { note: g.note } : {}) })),
      llmFailures: got.filter((g) => g.note).map((g) => ({ question: g.question, reason: g.note! })),
    };
    methods.push(m);
    log(`selfquery: ${method}: ${m.correct}/${got.length} exactly right; author P/R ${m.author.precision}/${m.author.recall}, category P/R ${m.category.precision}/${m.category.recall}`);
  }
  return { questions: questions.length, file: 'bench/data/self-query-questions.jsonl', methods };
}

// ---- 4. the proxy's added latency on the local upstream ----

const PROXY_PROMPT = 'Name three rivers in Europe.';
const PROXY_MAX_TOKENS = 16;
const BENCH_KEY = `sk-bench-${randomBytes(16).toString('hex')}`;

async function benchProxyOverLocal(o: LlmBenchOptions, models: LanguageModels, quick: boolean, log: (m: string) => void): Promise<ProxyOverLocalResult> {
  const llm = models.local!;
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-llm-proxy-bench-'));
  // The API over real HTTP on loopback, with an API key, serving this very model through the
  // inference gateway (the system's own LLM is off; the API gets the gateway the wiring built around
  // `llm`): both sides use the same model instance and its cached prompt, so the difference is the
  // HTTP request, the API and the gateway's local upstream alone, not two processes or two copies.
  const config = loadConfig({}, {
    dataDir, modelsDir: o.modelsDir, llmGguf: 'off', embedder: 'hashing', logLevel: 'silent', metricsEnabled: false, host: '127.0.0.1', port: 0,
    apiKeys: [{ name: 'bench', sha256: createHash('sha256').update(BENCH_KEY).digest('hex'), scopes: ['inference'] }],
  });
  const system = await createSystem(config, { consumers: false, logger: pino({ level: 'silent' }) });
  let server: RunningServer | null = null;
  try {
    await system.start();
    models.gateway!.start();
    server = await startServer({ ...system, gateway: models.gateway, llm: models.llm });
    log(`proxy: the API at ${server.url}, serving ${llm.modelId} (${llm.info!.threads} threads) from this process`);
    const pool = new Pool(server.url, { connections: 1, pipelining: 1 });
    const messages: ChatMessage[] = [{ role: 'user', content: PROXY_PROMPT }];
    const body = (stream: boolean) => JSON.stringify({ model: llm.modelId, messages, temperature: 0, max_tokens: PROXY_MAX_TOKENS, ...(stream ? { stream: true } : {}) });
    const http = async (stream: boolean): Promise<{ totalMs: number; ttftMs: number }> => {
      const t0 = performance.now();
      const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` }, body: body(stream) });
      let first = 0;
      let text = '';
      for await (const chunk of res.body) {
        if (first === 0) first = performance.now();
        text += (chunk as Buffer).toString('utf8');
      }
      const end = performance.now();
      if (res.statusCode !== 200 || (stream && !text.includes('[DONE]'))) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
      return { totalMs: end - t0, ttftMs: first - t0 };
    };
    const direct = {
      whole: async () => {
        const t0 = performance.now();
        await llm.chat(messages, { temperature: 0, maxTokens: PROXY_MAX_TOKENS });
        return performance.now() - t0;
      },
      ttft: async () => (await timedStream(llm, messages, PROXY_MAX_TOKENS)).ttftMs,
    };
    for (let i = 0; i < 3; i++) { await direct.whole(); await direct.ttft(); await http(false); await http(true); } // warm-up
    const rounds = quick ? 2 : 8;
    const perRound = 5;
    const s = { direct: { total: [] as number[], ttft: [] as number[] }, proxy: { total: [] as number[], ttft: [] as number[] } };
    const roundAdded = { total: [] as number[], ttft: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      const round = { direct: { total: [] as number[], ttft: [] as number[] }, proxy: { total: [] as number[], ttft: [] as number[] } };
      // alternate which side goes first, so drift and background load fall on both alike
      for (const side of r % 2 === 0 ? (['direct', 'proxy'] as const) : (['proxy', 'direct'] as const)) {
        for (let i = 0; i < perRound; i++) {
          if (side === 'direct') {
            round.direct.total.push(await direct.whole());
            round.direct.ttft.push(await direct.ttft());
          } else {
            round.proxy.total.push((await http(false)).totalMs);
            round.proxy.ttft.push((await http(true)).ttftMs);
          }
        }
      }
      for (const side of ['direct', 'proxy'] as const) { s[side].total.push(...round[side].total); s[side].ttft.push(...round[side].ttft); }
      roundAdded.total.push(median(round.proxy.total) - median(round.direct.total));
      roundAdded.ttft.push(median(round.proxy.ttft) - median(round.direct.ttft));
      log(`proxy: round ${r + 1}/${rounds}: added total ${r1(roundAdded.total.at(-1)!)} ms, TTFT ${r1(roundAdded.ttft.at(-1)!)} ms (p50 of ${perRound})`);
    }
    await pool.close();
    const d = { totalMs: stats(s.direct.total), ttftMs: stats(s.direct.ttft) };
    const p = { totalMs: stats(s.proxy.total), ttftMs: stats(s.proxy.ttft) };
    return {
      model: llm.modelId, threads: llm.info!.threads, request: { prompt: PROXY_PROMPT, maxTokens: PROXY_MAX_TOKENS, temperature: 0 }, requestsEach: s.direct.total.length, rounds,
      direct: d, proxy: p,
      added: { totalP50: r1(p.totalMs.p50 - d.totalMs.p50), totalP99: r1(p.totalMs.p99 - d.totalMs.p99), ttftP50: r1(p.ttftMs.p50 - d.ttftMs.p50), ttftP99: r1(p.ttftMs.p99 - d.ttftMs.p99) },
      ratio: { totalP50: r2(p.totalMs.p50 / d.totalMs.p50), totalP99: r2(p.totalMs.p99 / d.totalMs.p99), ttftP50: r2(p.ttftMs.p50 / d.ttftMs.p50), ttftP99: r2(p.ttftMs.p99 / d.ttftMs.p99) },
      roundsAddedP50: { total: r1(median(roundAdded.total)), ttft: r1(median(roundAdded.ttft)) },
    };
  } finally {
    await server?.close();
    await system.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---- figures ----

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: r1(percentile(s, 50)), p99: r1(percentile(s, 99)), mean: r1(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)), n: s.length };
}

function r1(x: number): number {
  return Math.round(x * 10) / 10;
}

function r2(x: number): number {
  return Math.round(x * 100) / 100;
}

function signed(x: number): string {
  return x >= 0 ? `+${x}` : String(x);
}

/** The figures and their ratios as a text table (printed by `npm run bench` after the targets). */
export function llmTable(r: LlmBenchResult): string {
  const rows: string[][] = [['figure', 'value', 'ratio']];
  const add = (figure: string, value: string, ratio = '') => rows.push([figure, value, ratio]);
  const after: string[] = [];
  if (r.tokens) {
    const t = r.tokens;
    add('load (model + context), first in process', `${t.loadMs} ms`);
    const base = t.single[0]!;
    for (const x of t.single) {
      const vs = (a: number, b: number) => (x === base ? '' : `, ×${r2(a / b)} vs ${base.threads} threads`);
      add(`generation, 1 stream, ${x.threads} thread(s)`, `${x.generation.tokensPerSecond} tok/s`, `end to end ${x.generation.endToEndTokensPerSecond} tok/s${vs(x.generation.tokensPerSecond, base.generation.tokensPerSecond)}`);
      add(`prompt evaluation, ${x.promptEval.promptTokens}-token prompt, ${x.threads} thread(s)`, `${x.promptEval.tokensPerSecond} tok/s`, `TTFT ${x.promptEval.ttftMs} ms${vs(x.promptEval.tokensPerSecond, base.promptEval.tokensPerSecond)}`);
    }
    for (const c of t.concurrency) {
      const short = c.completionTokens.min < c.completionTokens.max ? ` (streams of ${c.completionTokens.min}-${c.completionTokens.max} tokens)` : '';
      add(`aggregate, ${c.concurrency} sequences × ${c.concurrency} streams, ${c.threads} thread(s)`, `${c.aggregateTokensPerSecond} tok/s`, `×${c.ratioToConcurrency1.toFixed(2)} vs 1${short}`);
    }
  }
  if (r.rag) {
    for (const run of r.rag.runs) {
      const ratio = r.rag.ratiosToExtractive.find((x) => x.name === run.name && x.concurrency === run.concurrency);
      add(`RAG ${run.name} @${run.concurrency} p50 / p99 (n=${run.totalMs.n})`, `${run.totalMs.p50} / ${run.totalMs.p99} ms`, ratio ? `×${ratio.p50} / ×${ratio.p99} vs extractive` : '');
      const steps = Object.entries(run.stepP50Ms).map(([k, v]) => `${k} ${v}`).join(', ');
      const n = run.totalMs.n;
      const notes = run.name === 'extractive' ? '' : `; self-query/expansion/rerank applied ${run.applied.selfQuery}/${run.applied.expansion}/${run.applied.rerank} of ${n}, answers cut at the limit ${run.answersCutAtLimit}/${n}`;
      after.push(`RAG ${run.name} @${run.concurrency}: step p50 (ms) ${steps}${notes}`);
    }
  }
  if (r.selfQuery) {
    for (const m of r.selfQuery.methods) {
      add(`self-query ${m.method}: exact match (${r.selfQuery.questions} questions)`, `${m.correct}/${r.selfQuery.questions}`, `${(m.exactMatch * 100).toFixed(0)}%${m.llmFailures.length ? `, model call failed on ${m.llmFailures.length}` : ''}`);
      add(`self-query ${m.method}: author P / R, category P / R`, `${m.author.precision} / ${m.author.recall}, ${m.category.precision} / ${m.category.recall}`);
    }
  }
  for (const p of r.proxy ?? []) {
    const t = `${p.threads} thread(s)`;
    add(`direct, total p50 / p99 (max_tokens ${p.request.maxTokens}, n=${p.requestsEach}), ${t}`, `${p.direct.totalMs.p50} / ${p.direct.totalMs.p99} ms`);
    add(`through /v1/chat/completions, total p50 / p99, ${t}`, `${p.proxy.totalMs.p50} / ${p.proxy.totalMs.p99} ms`, `${signed(p.added.totalP50)} / ${signed(p.added.totalP99)} ms (×${p.ratio.totalP50} / ×${p.ratio.totalP99})`);
    add(`direct, TTFT p50 / p99 (streaming), ${t}`, `${p.direct.ttftMs.p50} / ${p.direct.ttftMs.p99} ms`);
    add(`through /v1/chat/completions, TTFT p50 / p99, ${t}`, `${p.proxy.ttftMs.p50} / ${p.proxy.ttftMs.p99} ms`, `${signed(p.added.ttftP50)} / ${signed(p.added.ttftP99)} ms (×${p.ratio.ttftP50} / ×${p.ratio.ttftP99})`);
    add(`  added p50, median of ${p.rounds} rounds, ${t}`, `total ${signed(p.roundsAddedP50.total)} ms`, `TTFT ${signed(p.roundsAddedP50.ttft)} ms`);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  if (after.length > 0) lines.push('', ...after);
  lines.unshift(`Local LLM ${r.model.id} (${basename(r.model.file)}): ${r.model.gpu}, ${r.model.threads} threads, ${r.model.contextTokens}-token context; load average ${Object.entries(r.loadAverage).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, parts: { type: 'string' } } });
  const found = findBenchModels();
  if ('skipped' in found) {
    process.stderr.write(`[llm-bench] skipped: ${found.skipped}\n`);
  } else {
    const parts = values.parts ? values.parts.split(',') : LLM_BENCH_PARTS;
    const unknown = parts.filter((p) => !(LLM_BENCH_PARTS as readonly string[]).includes(p));
    if (unknown.length > 0) throw new Error(`unknown --parts ${unknown.join(', ')} (known: ${LLM_BENCH_PARTS.join(', ')})`);
    const result = await runLlmBench({ ...found, quick: values.quick, parts: parts as LlmBenchPart[], log: (m) => process.stderr.write(`[llm-bench] ${m}\n`) });
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${llmTable(result)}\n`);
  }
}
