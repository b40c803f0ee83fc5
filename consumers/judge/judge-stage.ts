import type { LogRecord } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import type { EventLog } from '../../ports/event-log.ts';
import type { Judgement } from '../../schemas/judgement.ts';
import { Topics } from '../../schemas/topics.ts';
import { isSampled } from '../../streams/eval/judge.ts';
import { recordFailure, type RecordFailure, type Stage } from '../runtime/stage-consumer.ts';
import { judgeAnswer, judgeInputOf, recordJudgements, type JudgeDeps } from './judge-answer.ts';

/**
 * judge: RAG traces (tributary.rag.traces) → LLM-as-judge verdicts (tributary.rag.judgements) for a
 * sampled share of them (TRIBUTARY_JUDGE_SAMPLE, default 10%), asynchronously: the answer has long
 * been given when it is judged, and judging never slows a RAG request.
 *
 * The sample is decided by the trace id, so a redelivered trace is judged again only if it was
 * judged before (the verdict is keyed by trace id: the latest one stands). A cache hit is not
 * judged: it repeats the answer of the trace it names. A trace that cannot be read is a per-record
 * failure (DLQ). An LLM or registry that cannot be reached concerns the batch (its error's scope;
 * consumers/runtime/stage-consumer.ts): the verdicts written so far are kept, the batch is retried
 * with back-off until it is back, and the ones already judged here are not asked again.
 */

const REMEMBERED = 10_000;

export class JudgeStage implements Stage {
  readonly name = 'judge';
  private readonly deps: JudgeDeps;
  private readonly log: EventLog;
  private readonly codec: ValueCodec;
  private readonly sample: number;
  /** Trace ids judged by this process (most recent last), so a retried batch does not ask again. */
  private readonly judged = new Set<string>();

  constructor(opts: JudgeDeps & { log: EventLog; codec: ValueCodec; sample: number }) {
    this.deps = { llm: opts.llm, template: opts.template, metrics: opts.metrics };
    this.log = opts.log;
    this.codec = opts.codec;
    this.sample = opts.sample;
  }

  async process(records: LogRecord[], signal: AbortSignal): Promise<RecordFailure[]> {
    const failures: RecordFailure[] = [];
    const verdicts: Judgement[] = [];
    try {
      for (const rec of records) {
        if (rec.value === null) continue;
        let trace;
        try {
          trace = await this.codec.decode(Topics.ragTraces, rec.value);
        } catch (err) {
          failures.push(recordFailure(rec, err));
          continue;
        }
        if (trace.cache.hit || !isSampled(trace.traceId, this.sample) || this.judged.has(trace.traceId)) continue;
        verdicts.push(await judgeAnswer(this.deps, trace.traceId, judgeInputOf(trace), 'online', signal));
        this.remember(trace.traceId);
      }
    } finally {
      // what was judged before a failure is kept
      if (verdicts.length > 0) await recordJudgements(this.log, this.codec, verdicts);
    }
    return failures;
  }

  private remember(traceId: string): void {
    this.judged.add(traceId);
    if (this.judged.size > REMEMBERED) this.judged.delete(this.judged.values().next().value!);
  }
}
