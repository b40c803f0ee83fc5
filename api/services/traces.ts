import type { EventLog } from '../../ports/event-log.ts';
import type { TraceStore } from '../../ports/trace-store.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import type { FeedbackEvent } from '../../schemas/feedback.ts';
import type { RagTrace } from '../../schemas/trace.ts';
import type { Judgement } from '../../schemas/judgement.ts';
import { Topics, topicSpecs } from '../../schemas/topics.ts';
import { failureScope } from '../../ports/errors.ts';
import type { RagRequest, RagResult } from './rag.ts';
import { logPages, topicPartitions } from '../../common/log-pages.ts';

/**
 * RAG traces: every RAG query writes one record to tributary.rag.traces (the record); each API
 * process reads the topic, the feedback that names a trace and the judge's verdicts into its trace
 * store (the view it queries), catching up on each read — so any replica serves every trace, and
 * feedback and verdicts join their trace by traceId.
 */

const NO_LATENCY: RagTrace['latencyMs'] = { selfQuery: 0, expansion: 0, search: 0, rerank: 0, answer: 0, total: 0 };

export interface TraceContext {
  readonly log: EventLog;
  readonly codec: ValueCodec;
  readonly traces: TraceStore;
}

/** The trace of one response (a cache hit is its own trace, naming the one it was cached from). */
export function traceOf(req: RagRequest, result: RagResult, opts: { logPrompts: boolean; cache: { hit: boolean; cachedTraceId?: string }; traceId?: string; atMs?: number }): RagTrace {
  const d = result.trace;
  const steps = result.steps;
  return {
    traceId: opts.traceId ?? result.traceId,
    at: new Date(opts.atMs ?? d?.atMs ?? Date.now()).toISOString(),
    query: req.query,
    mode: req.mode ?? 'hybrid',
    filter: (d?.filter ?? null) as Record<string, unknown> | null,
    selfQuery: steps.selfQuery as Record<string, unknown>,
    expandedQueries: steps.expansion.status === 'applied' ? steps.expansion.variants : [req.query],
    retrieved: d?.retrieved ?? [],
    reranked: d?.reranked ?? null,
    sources: result.sources.map((s) => ({ docId: s.docId, chunkIndex: s.chunkIndex, score: s.score, text: s.text })),
    prompt: { ...(d?.prompt ?? { templateId: 'unknown', templateVersion: 0 }), tokens: steps.llm?.promptTokens ?? null, text: opts.logPrompts ? d?.promptText ?? null : null },
    answer: result.answer,
    answerMode: result.mode,
    citations: steps.llm?.citations ?? (steps.extractive ? { cited: steps.extractive.cited, removed: [] } : null),
    model: steps.llm?.model ?? null,
    // a cache hit ran no step
    latencyMs: (opts.cache.hit ? undefined : d?.latencyMs) ?? NO_LATENCY,
    tokens: steps.llm ? { prompt: steps.llm.promptTokens, completion: steps.llm.completionTokens ?? null } : null,
    cache: opts.cache,
    ...(steps.guardrails ? { guardrails: steps.guardrails as unknown as Record<string, unknown> } : {}),
  };
}

/** Appends a trace to the topic (resolves once the log has it). */
export async function recordTrace(ctx: Pick<TraceContext, 'log' | 'codec'>, trace: RagTrace): Promise<void> {
  await ctx.log.append(Topics.ragTraces, [{ key: trace.traceId, value: await ctx.codec.encode(Topics.ragTraces, trace) }]);
}

const READ_CHUNK = 500;
const syncing = new WeakMap<TraceStore, Promise<void>>();
const pruned = new WeakMap<TraceStore, number>();
/** The view keeps what the trace topic keeps; it is pruned at most once an hour, on a read. */
const RETENTION_MS = topicSpecs(1).find((t) => t.name === Topics.ragTraces)!.retentionMs;
const PRUNE_EVERY_MS = 3600_000;

/** Brings the store up to the end of both topics (one sync at a time per store). */
export function syncTraces(ctx: TraceContext): Promise<void> {
  const prev = syncing.get(ctx.traces) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(() => syncOnce(ctx));
  syncing.set(ctx.traces, next);
  return next;
}

async function syncOnce(ctx: TraceContext): Promise<void> {
  const now = Date.now();
  if (now - (pruned.get(ctx.traces) ?? 0) >= PRUNE_EVERY_MS) {
    pruned.set(ctx.traces, now);
    ctx.traces.prune(now - RETENTION_MS);
  }
  for (const topic of [Topics.ragTraces, Topics.feedback, Topics.ragJudgements] as const) {
    for (const p of await topicPartitions(ctx.log, topic)) {
      for await (const recs of logPages(ctx.log, topic, p.partition, Math.max(ctx.traces.position(topic, p.partition), p.start), p.end, READ_CHUNK)) {
        const traces: RagTrace[] = [];
        const feedback: FeedbackEvent[] = [];
        const judgements: Judgement[] = [];
        for (const r of recs) {
          if (r.value === null) continue;
          try {
            if (topic === Topics.ragTraces) traces.push(await ctx.codec.decode(Topics.ragTraces, r.value));
            else if (topic === Topics.feedback) feedback.push(await ctx.codec.decode(Topics.feedback, r.value));
            else judgements.push(await ctx.codec.decode(Topics.ragJudgements, r.value));
          } catch (e) {
            if (failureScope(e) === 'batch') throw e;
            // a record that is not a trace (or feedback) is skipped: the view serves what it can read
          }
        }
        ctx.traces.apply({ traces, feedback, judgements, positions: [{ topic, partition: p.partition, next: recs[recs.length - 1]!.offset + 1 }] });
      }
    }
  }
}
