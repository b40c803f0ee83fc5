import { failureScope, findTributaryError, TributaryError } from '../../ports/errors.ts';
import type { EventLog } from '../../ports/event-log.ts';
import type { Llm } from '../../ports/llm.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import { Topics } from '../../schemas/topics.ts';
import type { Metrics } from '../../observability/metrics.ts';
import type { Judgement } from '../../schemas/judgement.ts';
import type { RagTrace } from '../../schemas/trace.ts';
import { buildJudgeMessages, JUDGE_REPLY_TOKENS, judgeResponseSchema, parseJudgeReply, type JudgeInput } from '../../streams/eval/judge.ts';
import { promptRef } from '../../streams/prompts/catalogue.ts';
import type { PromptTemplate } from '../../streams/prompts/template.ts';

/**
 * One LLM-as-judge call, shared by the judge consumer (online) and POST /v1/traces/:id/judge
 * (offline): the verdict, or `status: failed` with the reason when the model's reply is unusable.
 * An LLM that cannot be reached, or that refuses every request (our key, our model), throws (the
 * caller retries or reports it); no score is ever made up.
 */

export interface JudgeDeps {
  llm: Llm;
  template: PromptTemplate;
  metrics: Metrics;
}

/** What the judge reads from a trace: the question, the answer and the sources it was given. */
export function judgeInputOf(trace: RagTrace, expected?: string): JudgeInput {
  return {
    question: trace.query,
    answer: trace.answer,
    sources: trace.sources.map((s) => s.text ?? `(the text of ${s.docId} chunk ${s.chunkIndex} was not recorded in this trace)`),
    ...(expected !== undefined ? { expected } : {}),
  };
}

export async function judgeAnswer(deps: JudgeDeps, traceId: string, input: JudgeInput, origin: Judgement['origin'], signal?: AbortSignal): Promise<Judgement> {
  const { llm, template, metrics } = deps;
  const withExpected = input.expected !== undefined;
  const started = performance.now();
  const base = { traceId, origin, model: llm.id, prompt: promptRef(template) };
  let judgement: Judgement;
  try {
    const reply = await llm.chat(buildJudgeMessages(template, input, llm.contextTokens), {
      maxTokens: JUDGE_REPLY_TOKENS, temperature: 0, priority: origin === 'online' ? 'background' : 'interactive',
      ...(llm.structuredOutput ? { responseSchema: judgeResponseSchema(withExpected) } : {}),
      ...(signal ? { signal } : {}),
    });
    let scores;
    try {
      scores = parseJudgeReply(reply.text, withExpected);
    } catch (e) {
      if (reply.finishReason !== 'length') throw e;
      throw new TributaryError('LLM_REJECTED', `the judge's reply was cut at its ${JUDGE_REPLY_TOKENS}-token budget: ${(e as Error).message}`, { cause: e });
    }
    judgement = { ...base, at: new Date().toISOString(), status: 'judged', scores, error: null, latencyMs: Math.round(performance.now() - started) };
  } catch (e) {
    const te = findTributaryError(e);
    if (te?.code !== 'LLM_REJECTED' || failureScope(te) === 'batch') throw e;
    judgement = { ...base, at: new Date().toISOString(), status: 'failed', scores: null, error: te.message, latencyMs: Math.round(performance.now() - started) };
  }
  metrics.ragJudgeSeconds.observe(judgement.latencyMs / 1000);
  metrics.ragJudgements.inc({ origin, status: judgement.status });
  if (judgement.scores) {
    for (const [criterion, s] of Object.entries(judgement.scores)) if (s) metrics.ragJudgeScore.observe({ origin, criterion }, s.score);
  }
  return judgement;
}

/** Appends verdicts to tributary.rag.judgements, keyed by trace id (the latest verdict of a trace stands). */
export async function recordJudgements(log: Pick<EventLog, 'append'>, codec: Pick<ValueCodec, 'encode'>, verdicts: readonly Judgement[]): Promise<void> {
  const records = await Promise.all(verdicts.map(async (j) => ({ key: j.traceId, value: await codec.encode(Topics.ragJudgements, j) })));
  await log.append(Topics.ragJudgements, records);
}
