import { z } from 'zod';

/** Value of tributary.content.cleaned (key = document id; a null value is a deletion). */
export const cleanedDocumentSchema = z.object({
  docId: z.string().min(1),
  /** Source ordering position: see schemas/version.ts */
  version: z.number().int().nonnegative(),
  category: z.string().min(1),
  author: z.string().min(1),
  title: z.string().nullable(),
  url: z.string().nullable(),
  text: z.string(),
  /** sha256 of the cleaned text, hex */
  contentHash: z.string().length(64),
  sourceTsMs: z.number().int().nonnegative(),
  cleanedAtMs: z.number().int().nonnegative(),
});
export type CleanedDocument = z.infer<typeof cleanedDocumentSchema>;
