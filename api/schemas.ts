import { z } from 'zod';
import { categorySchema } from '../schemas/content.ts';

/** Request and response pieces shared by several routes. */

const oneOrMany = <T extends z.ZodType>(s: T) => z.union([s, z.array(s).min(1).max(100)]);

export const searchFilterSchema = z.strictObject({
  category: oneOrMany(categorySchema).optional().describe('One category or a list'),
  author: oneOrMany(z.string().min(1).max(200)).optional().describe('One author or a list'),
  docId: oneOrMany(z.string().min(1).max(200)).optional().describe('One document id or a list'),
}).describe('Only chunks matching every given field');

export const queryTextSchema = z.string().trim().min(1, 'must not be empty').max(2000);

export const hitSchema = z.object({
  docId: z.string(),
  chunkIndex: z.number().int(),
  score: z.number(),
  text: z.string(),
  category: z.string(),
  author: z.string(),
  title: z.string().nullable(),
  url: z.string().nullable(),
});

export const docIdParamsSchema = z.object({ id: z.string().min(1).max(200) });
