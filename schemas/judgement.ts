import { z } from 'zod';

/**
 * An LLM-as-judge verdict on one RAG answer (tributary.rag.judgements, key = traceId): groundedness
 * (is each claim supported by the sources the answer was given), answer relevance and context
 * relevance — and correctness when an expected answer was given — each 1–5 with a reason. Written
 * by the judge consumer for a sampled share of traces (online), or on request (offline, `tributary
 * eval answers`). A judge that could not score says so (`status: failed`, `error`): no score is ever
 * made up.
 */

export const JUDGE_CRITERIA = ['groundedness', 'answerRelevance', 'contextRelevance', 'correctness'] as const;
export type JudgeCriterion = (typeof JUDGE_CRITERIA)[number];

export const judgeScoreSchema = z.object({
  score: z.number().int().min(1).max(5),
  reason: z.string().max(2000),
});
export type JudgeScore = z.infer<typeof judgeScoreSchema>;

export const judgeScoresSchema = z.object({
  groundedness: judgeScoreSchema,
  answerRelevance: judgeScoreSchema,
  contextRelevance: judgeScoreSchema,
  /** Only when an expected answer was given. */
  correctness: judgeScoreSchema.optional(),
});
export type JudgeScores = z.infer<typeof judgeScoresSchema>;

export const judgementSchema = z.object({
  traceId: z.string().min(1),
  at: z.iso.datetime(),
  /** online: the judge consumer's sample; offline: asked for (POST /v1/traces/:id/judge). */
  origin: z.enum(['online', 'offline']),
  status: z.enum(['judged', 'failed']),
  /** null when the judge failed. */
  scores: judgeScoresSchema.nullable(),
  /** Why the judge failed (the LLM's reply was unusable). */
  error: z.string().nullable(),
  model: z.string(),
  prompt: z.object({ templateId: z.string(), templateVersion: z.number().int() }),
  latencyMs: z.number().nonnegative(),
});
export type Judgement = z.infer<typeof judgementSchema>;
