import { createHash } from 'node:crypto';
import { decode, encode } from 'gpt-tokenizer';
import { z } from 'zod';
import { TributaryError } from '../../ports/errors.ts';
import type { ChatMessage, JsonSchema } from '../../ports/llm.ts';
import { judgeScoresSchema, type JudgeScores } from '../../schemas/judgement.ts';
import { renderPrompt, type PromptTemplate } from '../prompts/template.ts';
import { extractJson } from '../rag/text.ts';

/**
 * LLM-as-judge, the pure half: which traces are judged (a deterministic sample by trace id, so every
 * replica and every redelivery decide alike), the judge's messages within the model's context
 * window, the reply's JSON schema (enforced while decoding by a local model) and its validation.
 */

export interface JudgeInput {
  question: string;
  answer: string;
  /** The sources the answer was given, [1] = sources[0]. */
  sources: readonly string[];
  /** The expected answer (offline evaluation): adds the correctness criterion. */
  expected?: string;
}

/** True for the share `rate` (0–1) of trace ids, the same every time for one id. */
export function isSampled(traceId: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  const h = createHash('sha256').update(traceId).digest();
  return h.readUInt32BE(0) / 0x1_0000_0000 < rate;
}

const REASON_CHARS = 160;
/**
 * Tokens kept for the reply: four reasons of at most REASON_CHARS characters and the JSON around
 * them, at one token per character — the worst a small model's odd text comes to — so a reply held
 * to the schema is never cut (a cut reply is unusable).
 */
export const JUDGE_REPLY_TOKENS = 900;
/** Chat formats add a few tokens per message; plus a margin for tokenizer differences. */
const OVERHEAD_TOKENS = 32;
/** Fewer tokens than this for the question, answer and sources, and the answer is not judged. */
const MIN_ROOM_TOKENS = 256;
const MARGIN = 0.1;

function cut(text: string, tokens: number): string {
  const t = encode(text);
  return t.length <= tokens ? text : `${decode(t.slice(0, Math.max(0, tokens)))}…`;
}

/**
 * The judge's messages, fitted into `contextTokens`: the answer and the question are kept whole (up
 * to a quarter of the room each); the sources share what is left, each cut to its share.
 */
export function buildJudgeMessages(template: PromptTemplate, input: JudgeInput, contextTokens: number): ChatMessage[] {
  const system = renderPrompt(template);
  let room = Math.floor(contextTokens * (1 - MARGIN)) - JUDGE_REPLY_TOKENS - OVERHEAD_TOKENS - encode(system).length;
  if (room < MIN_ROOM_TOKENS) {
    // a verdict on an answer the judge could not read would be made up
    throw new TributaryError('LLM_REJECTED', `the model's ${contextTokens}-token context leaves ${Math.max(0, room)} tokens for the question, the answer and the sources after the judge's instructions and its ${JUDGE_REPLY_TOKENS}-token reply; at least ${MIN_ROOM_TOKENS} are needed (raise TRIBUTARY_LLM_CONTEXT_TOKENS)`);
  }
  const question = cut(input.question, Math.floor(room / 4));
  room -= encode(question).length;
  const answer = cut(input.answer, Math.floor(room / 3));
  room -= encode(answer).length;
  const expected = input.expected === undefined ? undefined : cut(input.expected, Math.floor(room / 4));
  if (expected !== undefined) room -= encode(expected).length;
  const share = input.sources.length ? Math.floor(room / input.sources.length) - 8 : 0;
  const sources = input.sources.length
    ? input.sources.map((s, i) => `[${i + 1}] ${cut(s.replace(/\s+/g, ' ').trim(), Math.max(16, share))}`).join('\n')
    : '(no sources were given)';
  const parts = [`Question: ${question}`, `Sources:\n${sources}`, `Answer: ${answer}`];
  if (expected !== undefined) parts.push(`Expected answer: ${expected}`);
  return [{ role: 'system', content: system }, { role: 'user', content: parts.join('\n\n') }];
}

/**
 * The reply's JSON schema: each criterion a score 1–5 and a short reason that is never empty (a
 * model enforcing the schema while decoding cannot answer "" — a 135M model did, without minLength).
 */
export function judgeResponseSchema(withExpected: boolean): { name: string; schema: JsonSchema } {
  const criterion = {
    type: 'object',
    properties: { score: { enum: [1, 2, 3, 4, 5] }, reason: { type: 'string', minLength: 1, maxLength: REASON_CHARS } },
    required: ['score', 'reason'],
    additionalProperties: false,
  };
  const names = ['groundedness', 'answerRelevance', 'contextRelevance', ...(withExpected ? ['correctness'] : [])];
  return {
    name: 'judgement',
    schema: { type: 'object', properties: Object.fromEntries(names.map((n) => [n, criterion])), required: names, additionalProperties: false },
  };
}

/** A criterion as the judge must reply it: a blank reason is no verdict (LLM_REJECTED), never an empty one stored. */
const replyCriterion = z.object({ score: z.coerce.number().int().min(1).max(5), reason: z.string().trim().min(1, 'the reason is empty') });
const replySchema = judgeScoresSchema.extend({
  groundedness: replyCriterion,
  answerRelevance: replyCriterion,
  contextRelevance: replyCriterion,
  correctness: replyCriterion.optional(),
});

/** Validates the judge's reply. Throws LLM_REJECTED, naming what is wrong, when it is unusable. */
export function parseJudgeReply(reply: string, withExpected: boolean): JudgeScores {
  let raw: unknown;
  try {
    raw = extractJson(reply);
  } catch (e) {
    throw new TributaryError('LLM_REJECTED', `the judge's reply is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const parsed = replySchema.safeParse(raw);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(reply)'}: ${i.message}`).join('; ');
    throw new TributaryError('LLM_REJECTED', `the judge's reply is not {groundedness, answerRelevance, contextRelevance} scored 1–5 with reasons: ${where}`);
  }
  if (withExpected && !parsed.data.correctness) throw new TributaryError('LLM_REJECTED', "the judge's reply has no correctness score although an expected answer was given");
  const trim = (s: { score: number; reason: string }) => ({ score: s.score, reason: s.reason.trim().slice(0, REASON_CHARS) });
  const out: JudgeScores = {
    groundedness: trim(parsed.data.groundedness),
    answerRelevance: trim(parsed.data.answerRelevance),
    contextRelevance: trim(parsed.data.contextRelevance),
  };
  if (withExpected && parsed.data.correctness) out.correctness = trim(parsed.data.correctness);
  return out;
}
