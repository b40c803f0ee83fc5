import { z } from 'zod';

/**
 * Feedback on an answer (POST /v1/feedback → tributary.feedback): a thumbs up or down, or a 1–5
 * rating, optionally with the question and answer it is about, a correction (the answer the user
 * wanted: the "chosen" side of a preference pair) and free text. `traceId` names the RAG response it
 * is about (every RAG response carries one).
 */

const text = (max: number) => z.string().trim().min(1).max(max);

export const feedbackRatingSchema = z.union([z.enum(['up', 'down']), z.number().int().min(1).max(5)])
  .describe('"up" or "down", or 1 (worst) to 5 (best)');

export const feedbackRequestSchema = z.strictObject({
  traceId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be the traceId of a RAG response (8–64 letters, digits, "-" or "_")').optional(),
  query: text(4000).optional(),
  answer: text(32_000).optional(),
  rating: feedbackRatingSchema,
  correction: text(32_000).optional().describe('The answer that should have been given'),
  comment: text(4000).optional(),
  tags: z.array(z.string().regex(/^[a-z0-9][a-z0-9_.:-]{0,63}$/, 'tags are lower-case letters, digits, "_", ".", ":" or "-", up to 64')).max(20).optional(),
}).refine((f) => f.traceId !== undefined || f.query !== undefined, { message: 'name the answer: give its traceId, or the query (and answer) it is about', path: ['traceId'] });
export type FeedbackRequest = z.infer<typeof feedbackRequestSchema>;

/** Value of tributary.feedback (key = traceId, else the feedback id). */
export const feedbackEventSchema = z.object({
  id: z.string().min(1),
  traceId: z.string().min(1).optional(),
  query: z.string().optional(),
  answer: z.string().optional(),
  rating: feedbackRatingSchema,
  correction: z.string().optional(),
  comment: z.string().optional(),
  tags: z.array(z.string()).optional(),
  /** When the API received it (ms since the epoch). */
  receivedAtMs: z.number().int().nonnegative(),
});
export type FeedbackEvent = z.infer<typeof feedbackEventSchema>;
