import { z } from 'zod';

/** Categories the pipeline has dedicated cleaners and chunkers for; any other name uses the generic ones. */
export const KNOWN_CATEGORIES = ['article', 'post', 'repository'] as const;

/** A category name: lower-case words, digits, dashes. Unknown-but-well-formed names are accepted and use the generic stage. */
export const categorySchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_-]*$/, 'category must be lower-case letters, digits, "_" or "-" and start with a letter (e.g. "article")');

/**
 * The freshness probe's synthetic document (one per API process, rewritten every
 * TRIBUTARY_FRESHNESS_PROBE_MS): it crosses the whole pipeline like any document, and is left out of
 * search results, answers, fine-tuning datasets and counts. Producers may not use the category.
 */
export const PROBE_CATEGORY = 'tributary-probe';
export const PROBE_SOURCE = 'tributary.probe';

export const MAX_CONTENT_CHARS = 2_000_000;

export const contentItemSchema = z.strictObject({
  category: categorySchema,
  author: z.string().trim().min(1).max(200),
  content: z.string().min(1, 'content must not be empty').max(MAX_CONTENT_CHARS),
  title: z.string().max(1000).optional(),
  url: z.url().max(4000).optional(),
  source: z.string().min(1).max(200).optional(),
  externalId: z.string().min(1).max(500).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type ContentItem = z.infer<typeof contentItemSchema>;

export const MAX_ITEMS_PER_REQUEST = 1000;

export const contentRequestSchema = z.union([
  contentItemSchema,
  z.strictObject({ items: z.array(contentItemSchema).min(1).max(MAX_ITEMS_PER_REQUEST) }),
]);
export type ContentRequest = z.infer<typeof contentRequestSchema>;

/** A raw document as kept in the warehouse (never modified by the pipeline). */
export const rawDocumentSchema = z.object({
  _id: z.string().min(1),
  category: categorySchema,
  author: z.string().min(1),
  content: z.string(),
  title: z.string().nullish(),
  url: z.string().nullish(),
  source: z.string().nullish(),
  externalId: z.string().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  createdAt: z.string().nullish(),
  updatedAt: z.string().nullish(),
});
export type RawDocument = z.infer<typeof rawDocumentSchema>;

/** Event on tributary.content.events (producers publishing to Kafka): the same item, with an optional id. */
export const contentEventSchema = contentItemSchema.extend({ id: z.string().min(1).max(200).optional() });
export type ContentEvent = z.infer<typeof contentEventSchema>;
