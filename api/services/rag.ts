import { randomUUID } from 'node:crypto';
import { TributaryError } from '../../ports/errors.ts';
import type { ChatOptions, FinishInfo, Llm } from '../../ports/llm.ts';
import { CitationFilter } from '../../streams/rag/citations.ts';
import type { SearchFilter, SearchHit } from '../../ports/vector-index.ts';
import { KNOWN_CATEGORIES } from '../../schemas/content.ts';
import { extractiveAnswer, EXTRACTIVE_LABEL } from '../../streams/rag/extractive.ts';
import { buildExpansionMessages, expansionResponseSchema, parseExpansionReply } from '../../streams/rag/expansion.ts';
import { reciprocalRankFusion } from '../../streams/rag/fusion.ts';
import { buildAnswerPrompt } from '../../streams/rag/prompt.ts';
import type { PromptTemplate } from '../../streams/prompts/template.ts';
import { promptRef } from '../../streams/prompts/catalogue.ts';
import {
  authorCandidates, buildSelfQueryMessages, categoryCandidates, confirmFilters, extractFiltersByRules, parseSelfQueryReply, selfQueryResponseSchema,
  type ExtractedFilters, type SelfQueryVocabulary,
} from '../../streams/rag/self-query.ts';
import type { ApiContext } from '../context.ts';
import { buildInjectionMessages, detectInjection, injectionResponseSchema, parseInjectionReply } from '../../streams/rag/guardrails.ts';
import { StreamMasker } from '../../streams/clean/mask-stream.ts';
import { maskSensitive } from '../../streams/clean/mask.ts';
import { modeRequest, searchWithoutProbes, type SearchMode } from './search.ts';
import { llmSkipReason, rerankCandidates, rerankWithLlm, type RerankStep } from './rerank.ts';
import { SpanNames } from '../../observability/metrics.ts';
import { SpanAttributes, withSpan } from '../../observability/tracing.ts';

/**
 * The RAG orchestration: self-query → expansion → hybrid search per variant (RRF-fused) → rerank →
 * grounded answer (LLM) or extractive answer. The pure parts live in streams/rag; this file does
 * the I/O. Each optional step reports what it did, or why it was skipped, in `steps`. The answer is
 * a span (tributary.rag.answer) and each step one of its children, with the step's status on it.
 */

export interface RagRequest {
  query: string;
  k: number;
  filter?: SearchFilter;
  expand: boolean;
  selfQuery: boolean;
  rerank: boolean;
  /** Which side of the index retrieves (default hybrid). */
  mode?: SearchMode;
  /** Guardrails (default: block prompt injections in the question, mask PII and secrets in the answer). */
  guardrails?: GuardrailSettings;
}

export interface GuardrailSettings {
  /** Prompt injection in the question: block (an error) or flag; in a retrieved chunk: left out of the context (block) or kept and reported (flag). */
  injection: 'block' | 'flag' | 'off';
  /** PII and secrets in the answer: masked as it streams. */
  pii: 'mask' | 'off';
  /** The LLM classifier reads the question and the retrieved chunks beside the rule set (needs an LLM; not with injection off). */
  injectionLlm?: boolean;
}

export const DEFAULT_GUARDRAILS: GuardrailSettings = { injection: 'block', pii: 'mask' };

type GuardrailsStep = {
  injection: GuardrailSettings['injection'];
  pii: GuardrailSettings['pii'];
  query: { flagged: boolean; rules: string[] };
  chunks: { flagged: number; dropped: number; rules: string[] };
  answer: { masked: number };
  citations?: { removed: number };
  /** The LLM injection classifier: what it flagged, or why the rule set alone decided. */
  classifier?: { status: 'applied'; query: boolean; chunks: number; reason: string } | { status: 'failed'; reason: string };
};

export interface RagSource {
  docId: string;
  chunkIndex: number;
  text: string;
  score: number;
  title: string | null;
  url: string | null;
}

type Skipped = { status: 'skipped'; reason: string };

/** A type alias (not an interface) so it fits the response schema's open objects. */
export type RagSteps = {
  selfQuery: { status: 'applied'; method: 'rules' | 'llm'; filters: ExtractedFilters; query: string } | Skipped;
  expansion: { status: 'applied'; variants: string[] } | Skipped;
  search: { mode: SearchMode; variants: number; candidates: number; filter: SearchFilter | null; ms: number };
  rerank: RerankStep;
  llm?: {
    model: string; promptTokens: number; contextChunks: number; truncated: boolean; omitted: number; completionTokens?: number;
    /** 'length': the answer was cut at its token budget. */
    finishReason?: 'stop' | 'length';
    /** Sources the answer cites ([n] = sources[n-1]), and numbers it cited that name no source (taken out of the text). */
    citations?: { cited: number[]; removed: number[] };
  };
  extractive?: { reason: string; sentences: number; cited: number[] };
  /** What each guardrail found and did. */
  guardrails?: GuardrailsStep;
};

export interface RagResult {
  /** Names this answer (feedback refers to it). */
  traceId: string;
  answer: string;
  mode: 'extractive' | 'llm';
  sources: RagSource[];
  steps: RagSteps;
  /** What the trace records beyond the response (not part of the response). */
  trace?: RagTraceDetail;
}

export interface RagTraceDetail {
  atMs: number;
  filter: SearchFilter | null;
  retrieved: Array<{ docId: string; chunkIndex: number; score: number; denseRank: number | null; sparseRank: number | null }>;
  reranked: Array<{ docId: string; chunkIndex: number }> | null;
  /** The answer prompt's template id and version. */
  prompt: { templateId: string; templateVersion: number };
  /** The prompt messages, for prompt logging. */
  promptText: string | null;
  latencyMs: { selfQuery: number; expansion: number; search: number; rerank: number; answer: number; total: number };
}

export interface RagHooks {
  signal?: AbortSignal;
  /** Called once, before any answer text, with the sources the answer may cite ([1] = sources[0]). */
  onSources?: (sources: RagSource[]) => void;
  /** Set to stream the answer: called with each piece of text (the LLM answer is then streamed). */
  onDelta?: (text: string) => void;
}

type Deps = Pick<ApiContext, 'embedder' | 'index' | 'llm' | 'metrics' | 'logger' | 'prompts'>;

const EXPANSION_VARIANTS = 3;
const HELPER_MAX_TOKENS = 300;


function throwIfAborted(signal: AbortSignal | undefined, e?: unknown): void {
  if (signal?.aborted) throw e ?? signal.reason;
}

/** The vocabulary self-query matches against: authors and categories that the index actually holds. */
async function vocabularyFor(deps: Deps, question: string, proposed: ExtractedFilters = {}): Promise<SelfQueryVocabulary> {
  const authors = authorCandidates(question);
  if (proposed.author && !authors.includes(proposed.author)) authors.push(proposed.author);
  const categories = categoryCandidates(question).filter((c) => !(KNOWN_CATEGORIES as readonly string[]).includes(c));
  if (proposed.category && !categories.includes(proposed.category) && !(KNOWN_CATEGORIES as readonly string[]).includes(proposed.category)) categories.push(proposed.category);
  const [authorCounts, categoryCounts] = await Promise.all([
    Promise.all(authors.map((a) => deps.index.count({ author: a }))),
    Promise.all(categories.map((c) => deps.index.count({ category: c }))),
  ]);
  return {
    authors: authors.filter((_, i) => authorCounts[i]! > 0),
    categories: [...KNOWN_CATEGORIES, ...categories.filter((_, i) => categoryCounts[i]! > 0)],
  };
}

async function selfQueryStep(deps: Deps, req: RagRequest, signal?: AbortSignal): Promise<{ step: RagSteps['selfQuery']; filters: ExtractedFilters; query: string }> {
  const none = (reason: string) => ({ step: { status: 'skipped' as const, reason }, filters: {}, query: req.query });
  if (!req.selfQuery) return none('disabled by request');
  if (req.filter?.author !== undefined && req.filter?.category !== undefined) return none('author and category filters given explicitly');
  let method: 'rules' | 'llm' = 'rules';
  let filters: ExtractedFilters;
  let query = req.query;
  if (deps.llm) {
    method = 'llm';
    try {
      const vocab = await vocabularyFor(deps, req.query);
      const reply = await deps.llm.chat(buildSelfQueryMessages(deps.prompts.selfQuery, req.query, vocab), {
        maxTokens: HELPER_MAX_TOKENS, temperature: 0, ...(deps.llm.structuredOutput ? { responseSchema: selfQueryResponseSchema(req.query, vocab) } : {}), ...(signal ? { signal } : {}),
      });
      const proposed = parseSelfQueryReply(reply.text);
      const confirmedVocab = await vocabularyFor(deps, req.query, proposed);
      filters = confirmFilters(proposed, confirmedVocab);
      // a category word is often the topic, not a filter ("how do I post a document"): keep the model's
      // category only where the question uses it as one (a plural, or a cue after it), as the rules read it
      if (filters.category && extractFiltersByRules(req.query, confirmedVocab).filters.category !== filters.category) delete filters.category;
    } catch (e) {
      throwIfAborted(signal, e);
      return none(llmSkipReason(e));
    }
  } else {
    const result = extractFiltersByRules(req.query, await vocabularyFor(deps, req.query));
    filters = result.filters;
    query = result.query;
  }
  // explicit filters win over extracted ones
  if (req.filter?.author !== undefined) delete filters.author;
  if (req.filter?.category !== undefined) delete filters.category;
  if (!filters.author && !filters.category) return none('no known author or category found in the question');
  return { step: { status: 'applied', method, filters, query }, filters, query };
}

async function expansionStep(llm: Llm | null, template: PromptTemplate, req: RagRequest, query: string, signal?: AbortSignal): Promise<{ step: RagSteps['expansion']; variants: string[] }> {
  if (!req.expand) return { step: { status: 'skipped', reason: 'disabled by request' }, variants: [query] };
  if (!llm) return { step: { status: 'skipped', reason: 'no LLM configured' }, variants: [query] };
  try {
    const reply = await llm.chat(buildExpansionMessages(template, query, EXPANSION_VARIANTS), {
      maxTokens: HELPER_MAX_TOKENS, temperature: 0.3, ...(llm.structuredOutput ? { responseSchema: expansionResponseSchema(EXPANSION_VARIANTS) } : {}), ...(signal ? { signal } : {}),
    });
    const variants = parseExpansionReply(reply.text, query, EXPANSION_VARIANTS);
    if (variants.length < 2) return { step: { status: 'skipped', reason: 'the LLM gave no new variants' }, variants };
    return { step: { status: 'applied', variants }, variants };
  } catch (e) {
    throwIfAborted(signal, e);
    return { step: { status: 'skipped', reason: llmSkipReason(e) }, variants: [query] };
  }
}

/** The LLM injection classifier over the question and the candidates; a failure leaves the decision to the rules (reported). */
async function classifyInjections(deps: Deps, llm: Llm, question: string, hits: readonly SearchHit[], signal?: AbortSignal): Promise<{ step: NonNullable<GuardrailsStep['classifier']>; flagged: SearchHit[] }> {
  try {
    const reply = await llm.chat(buildInjectionMessages(deps.prompts.injection, question, hits.map((h) => h.payload.text)), {
      maxTokens: HELPER_MAX_TOKENS, temperature: 0, ...(llm.structuredOutput ? { responseSchema: injectionResponseSchema(hits.length) } : {}), ...(signal ? { signal } : {}),
    });
    const v = parseInjectionReply(reply.text, hits.length);
    deps.metrics.guardInjectionLlm.inc({ outcome: v.query || v.passages.length > 0 ? 'flagged' : 'clean' });
    return { step: { status: 'applied', query: v.query, chunks: v.passages.length, reason: v.reason }, flagged: v.passages.map((i) => hits[i]!) };
  } catch (e) {
    throwIfAborted(signal, e);
    deps.metrics.guardInjectionLlm.inc({ outcome: 'failed' });
    return { step: { status: 'failed', reason: `${llmSkipReason(e)}; the rule set alone decided` }, flagged: [] };
  }
}

/**
 * The LLM for the helper steps (self-query, expansion, the injection classifier, rerank) with PII
 * masking on: each reply is masked before it is read, so what the steps report (expansion variants,
 * the classifier's reason) never carries a secret the model wrote. The answer is masked as it streams.
 */
function maskedReplies(llm: Llm): Llm {
  return {
    id: llm.id,
    contextTokens: llm.contextTokens,
    ...(llm.answerTokens !== undefined ? { answerTokens: llm.answerTokens } : {}),
    ...(llm.structuredOutput !== undefined ? { structuredOutput: llm.structuredOutput } : {}),
    chat: async (messages, options) => {
      const reply = await llm.chat(messages, options);
      return { ...reply, text: maskSensitive(reply.text) };
    },
    stream: (messages, options) => llm.stream(messages, options),
  };
}

/** A step as a span; `status` reads what the step did (applied, skipped, …) for the span. */
function traced<T>(name: string, fn: () => Promise<T>, status?: (r: T) => string): Promise<T> {
  return withSpan(name, {}, async (span) => {
    const r = await fn();
    if (status) span.setAttribute(SpanAttributes.ragStep, status(r));
    return r;
  });
}

function toSource(h: SearchHit, score: number): RagSource {
  const p = h.payload;
  return { docId: p.doc_id, chunkIndex: p.chunk_index, text: p.text, score, title: p.title, url: p.url };
}

/** Runs the retrieval steps, then answers. With `hooks.onDelta` the answer is streamed. */
export async function answerQuestion(deps: Deps, req: RagRequest, hooks: RagHooks = {}): Promise<RagResult> {
  return withSpan(SpanNames.ragAnswer, { 'tributary.rag.k': req.k, 'tributary.rag.mode': req.mode ?? 'hybrid' }, async (span) => {
    const result = await answer(deps, req, hooks);
    span.setAttributes({ [SpanAttributes.ragTraceId]: result.traceId, 'tributary.rag.answer_mode': result.mode, 'tributary.rag.sources': result.sources.length });
    return result;
  });
}

async function answer(deps: Deps, req: RagRequest, hooks: RagHooks): Promise<RagResult> {
  const { signal } = hooks;
  const traceId = randomUUID();
  const atMs = Date.now();
  const t0 = performance.now();
  let mark = t0;
  const lap = () => { const now = performance.now(); const ms = Math.round((now - mark) * 10) / 10; mark = now; return ms; };
  const guard = req.guardrails ?? DEFAULT_GUARDRAILS;
  const guardStep: GuardrailsStep = { injection: guard.injection, pii: guard.pii, query: { flagged: false, rules: [] }, chunks: { flagged: 0, dropped: 0, rules: [] }, answer: { masked: 0 } };
  if (guard.injection !== 'off') {
    guardStep.query = detectInjection(req.query);
    if (guardStep.query.flagged && guard.injection === 'block') {
      throw new TributaryError('GUARDRAIL_BLOCKED', `the question was refused by the prompt-injection guardrail (${guardStep.query.rules.join(', ')}): ask it without instructions to the model (TRIBUTARY_GUARD_INJECTION=flag lets it through, reported)`, { details: { rules: guardStep.query.rules } });
    }
  }
  const helpers: Deps = guard.pii === 'mask' && deps.llm ? { ...deps, llm: maskedReplies(deps.llm) } : deps;
  const sq = await traced(SpanNames.ragSelfQuery, () => selfQueryStep(helpers, req, signal), (r) => r.step.status);
  const selfQueryMs = lap();
  const filter: SearchFilter = { ...sq.filters, ...req.filter };
  const hasFilter = Object.keys(filter).length > 0;
  const ex = await traced(SpanNames.ragExpansion, () => expansionStep(helpers.llm, deps.prompts.expansion, req, sq.query, signal), (r) => r.step.status);
  const expansionMs = lap();

  // search every variant (one embedder call for all of them), fuse with RRF
  const perVariant = req.rerank && deps.llm !== null ? rerankCandidates(req.k) : req.k;
  const started = performance.now();
  const mode = req.mode ?? 'hybrid';
  const lists = await traced(SpanNames.ragSearch, async () => {
    // a keyword search embeds nothing
    const vectors = mode === 'keyword' ? [] : await withSpan(SpanNames.embed, { [SpanAttributes.embedder]: deps.embedder.id, [SpanAttributes.texts]: ex.variants.length }, () => deps.embedder.embed(ex.variants, signal, { priority: 'query' }));
    return Promise.all(ex.variants.map((text, i) => searchWithoutProbes(deps.index, { ...modeRequest(mode, vectors[i], text), k: perVariant, ...(hasFilter ? { filter } : {}) })));
  });
  deps.metrics.searchSeconds.observe((performance.now() - started) / 1000);
  let candidates: Array<{ hit: SearchHit; score: number }> = lists.length === 1
    ? lists[0]!.map((hit) => ({ hit, score: hit.score }))
    : reciprocalRankFusion(lists, (h) => h.id, { limit: perVariant }).map((f) => ({ hit: f.item, score: f.score }));
  const searchStep: RagSteps['search'] = { mode, variants: ex.variants.length, candidates: candidates.length, filter: hasFilter ? filter : null, ms: Math.round(performance.now() - started) };
  throwIfAborted(signal);
  const searchMs = lap();
  const retrieved = candidates.map((c) => ({ docId: c.hit.payload.doc_id, chunkIndex: c.hit.payload.chunk_index, score: c.score, denseRank: c.hit.denseRank, sparseRank: c.hit.sparseRank }));
  if (guard.injection !== 'off') {
    // the LLM classifier, beside the rules: the question and every candidate in one call
    const byClassifier = new Set<SearchHit>();
    if (guard.injectionLlm && helpers.llm) {
      const llm = helpers.llm;
      const hits = candidates.map((x) => x.hit);
      const c = await traced(SpanNames.ragGuardrails, () => classifyInjections(helpers, llm, req.query, hits, signal), (r) => r.step.status);
      guardStep.classifier = c.step;
      for (const h of c.flagged) byClassifier.add(h);
      if (c.step.status === 'applied' && c.step.query) {
        guardStep.query = { flagged: true, rules: [...guardStep.query.rules, 'llm-classifier'] };
        if (guard.injection === 'block') {
          throw new TributaryError('GUARDRAIL_BLOCKED', `the question was refused by the prompt-injection guardrail (llm-classifier: ${c.step.reason || 'classified as an injection'}): ask it without instructions to the model (TRIBUTARY_GUARD_INJECTION=flag lets it through, reported)`, { details: { rules: guardStep.query.rules } });
        }
      }
    }
    // a retrieved chunk that carries instructions for the model is left out of its context (or reported)
    const rules = new Set<string>();
    candidates = candidates.filter((c) => {
      const v = detectInjection(c.hit.payload.text);
      if (byClassifier.has(c.hit)) v.rules.push('llm-classifier');
      v.flagged = v.rules.length > 0;
      if (!v.flagged) return true;
      guardStep.chunks.flagged++;
      for (const r of v.rules) rules.add(r);
      if (guard.injection === 'flag') return true;
      guardStep.chunks.dropped++;
      return false;
    });
    guardStep.chunks.rules = [...rules];
  }

  const toRerank = candidates;
  const reranked = await traced(SpanNames.ragRerank, () => rerankWithLlm({ llm: helpers.llm, template: deps.prompts.rerank }, sq.query, toRerank, (c) => c.hit.payload.text, { wanted: req.rerank, ...(signal ? { signal } : {}) }), (r) => r.step.status);
  candidates = reranked.items;
  const rerankStep = reranked.step;
  const rerankMs = lap();
  let sources = candidates.slice(0, req.k).map((c) => toSource(c.hit, c.score));
  const steps: RagSteps = { selfQuery: sq.step, expansion: ex.step, search: searchStep, rerank: rerankStep, guardrails: guardStep };
  const masker = guard.pii === 'mask' ? new StreamMasker() : null;
  const detail = (promptText: string | null): RagTraceDetail => {
    const answerMs = lap();
    return {
      atMs, filter: hasFilter ? filter : null, retrieved,
      reranked: rerankStep.status === 'applied' ? candidates.map((c) => ({ docId: c.hit.payload.doc_id, chunkIndex: c.hit.payload.chunk_index })) : null,
      prompt: promptRef(deps.prompts.answer),
      promptText,
      latencyMs: { selfQuery: selfQueryMs, expansion: expansionMs, search: searchMs, rerank: rerankMs, answer: answerMs, total: Math.round((performance.now() - t0) * 10) / 10 },
    };
  };

  if (!deps.llm) {
    const ext = extractiveAnswer(req.query, sources);
    steps.extractive = { reason: 'no LLM configured', sentences: ext.sentences.length, cited: ext.cited };
    const text = masker ? masker.push(ext.answer) + masker.end() : ext.answer;
    guardStep.answer.masked = masker?.masked ?? 0;
    hooks.onSources?.(sources);
    if (hooks.onDelta) {
      // the label first, then one sentence per event
      const [label, ...lines] = text.split('\n');
      hooks.onDelta(label ?? EXTRACTIVE_LABEL);
      for (const l of lines) hooks.onDelta(`\n${l}`);
    }
    return { traceId, answer: text, mode: 'extractive', sources, steps, trace: detail(null) };
  }

  const prompt = buildAnswerPrompt({ template: deps.prompts.answer, question: req.query, chunks: sources, contextTokens: deps.llm.contextTokens, ...(deps.llm.answerTokens ? { answerTokens: deps.llm.answerTokens } : {}) });
  sources = sources.slice(0, prompt.included); // [n] in the answer = sources[n-1]
  steps.llm = { model: deps.llm.id, promptTokens: prompt.promptTokens, contextChunks: prompt.included, truncated: prompt.truncated, omitted: prompt.omitted };
  hooks.onSources?.(sources);
  let finish: FinishInfo = {};
  const opts: ChatOptions = { maxTokens: prompt.answerTokens, temperature: 0.2, onFinish: (info) => { finish = info; }, ...(signal ? { signal } : {}) };
  // citations of sources the model was not given are taken out as the answer streams
  const citations = new CitationFilter(sources.length);
  let answer = '';
  const out = (text: string) => {
    if (!text) return;
    answer += text;
    hooks.onDelta?.(text);
  };
  // PII and secrets are masked as the answer streams: the streamed answer is the whole answer masked, whatever the
  // deltas (text is held back only while it could still become part of a pattern, at most STREAM_HOLD_LIMIT characters)
  const emit = (text: string) => out(masker ? masker.push(text) : text);
  const llm = deps.llm;
  await withSpan(SpanNames.ragGenerate, { [SpanAttributes.model]: llm.id, 'gen_ai.usage.input_tokens': prompt.promptTokens, 'tributary.rag.stream': hooks.onDelta !== undefined }, async () => {
    if (hooks.onDelta) {
      for await (const delta of llm.stream(prompt.messages, opts)) emit(citations.push(delta));
    } else {
      emit(citations.push((await llm.chat(prompt.messages, opts)).text));
    }
  });
  emit(citations.end());
  if (masker) out(masker.end());
  guardStep.answer.masked = masker?.masked ?? 0;
  guardStep.citations = { removed: citations.removed.length };
  if (finish.usage) steps.llm.completionTokens = finish.usage.completionTokens;
  if (finish.finishReason) steps.llm.finishReason = finish.finishReason;
  steps.llm.citations = { cited: citations.cited, removed: citations.removed };
  return { traceId, answer, mode: 'llm', sources, steps, trace: detail(prompt.messages.map((m) => `${m.role}: ${m.content}`).join('\n\n')) };
}
