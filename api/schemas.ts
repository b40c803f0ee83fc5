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

/**
 * One Server-Sent Event as the OpenAPI document describes it (the schema of a `text/event-stream`
 * response is that of each of its events): its name, and its `data` as JSON of the given shape.
 */
export function sseEventSchema(event: string, data: z.ZodType, description: string) {
  const { $schema: _, ...contentSchema } = z.toJSONSchema(data, { io: 'output', target: 'draft-2020-12', unrepresentable: 'any' });
  return z.looseObject({
    event: z.literal(event),
    data: z.string().meta({ contentMediaType: 'application/json', contentSchema }),
  }).describe(description);
}

export const docIdParamsSchema = z.object({ id: z.string().min(1).max(200) });

/**
 * The router's limit on one path parameter (Fastify's `maxParamLength`), in characters once decoded.
 * Well above every parameter schema's maximum (200), so a parameter that is merely too long reaches
 * its schema and gets a 400 naming it; only one past this limit is refused earlier, with 414.
 */
export const MAX_PATH_PARAM_CHARS = 2048;
