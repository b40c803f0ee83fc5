import { z } from 'zod';
import { TributaryError } from '../../ports/errors.ts';
import type { ChatMessage, JsonSchema } from '../../ports/llm.ts';
import { extractJson } from './text.ts';
import { renderPrompt, type PromptTemplate } from '../prompts/template.ts';

/**
 * LLM rerank: the model orders numbered passages by relevance to the question. The reply is
 * validated; passages it leaves out keep their retrieval order after the ones it ranked.
 */

const PASSAGE_CHARS = 800;

/** `template`: prompts/rag-rerank.md. */
export function buildRerankMessages(template: PromptTemplate, question: string, passages: readonly string[]): ChatMessage[] {
  const list = passages.map((p, i) => `[${i + 1}] ${p.replace(/\s+/g, ' ').slice(0, PASSAGE_CHARS)}`).join('\n');
  return [
    { role: 'system', content: renderPrompt(template) },
    { role: 'user', content: `Question: ${question}\n\nPassages:\n${list}` },
  ];
}

/** The JSON schema of the reply (enforced while decoding by a local model): passage numbers that exist, each once at most. */
export function rerankResponseSchema(count: number): { name: string; schema: JsonSchema } {
  const numbers = Array.from({ length: count }, (_, i) => i + 1);
  return { name: 'ranking', schema: { type: 'object', properties: { ranking: { type: 'array', items: { enum: numbers }, maxItems: count } }, required: ['ranking'], additionalProperties: false } };
}

const replySchema = z.union([z.object({ ranking: z.array(z.number().int()) }), z.array(z.number().int())]);

/** Zero-based order of the passages. Throws LLM_REJECTED when the reply is unusable. */
export function parseRerankReply(reply: string, count: number): number[] {
  let ranking: number[];
  try {
    const parsed = replySchema.parse(extractJson(reply));
    ranking = Array.isArray(parsed) ? parsed : parsed.ranking;
  } catch (e) {
    throw new TributaryError('LLM_REJECTED', `rerank reply is not {"ranking": [numbers]}: ${(e as Error).message}`, { cause: e });
  }
  const order: number[] = [];
  for (const n of ranking) if (n >= 1 && n <= count && !order.includes(n - 1)) order.push(n - 1);
  if (order.length === 0) throw new TributaryError('LLM_REJECTED', 'rerank reply ranks none of the passages');
  return order;
}

/** Reorders `items` by `order` (zero-based); items not in `order` follow in their original order. */
export function applyOrder<T>(items: readonly T[], order: readonly number[]): T[] {
  const picked = order.filter((i) => i >= 0 && i < items.length).map((i) => items[i]!);
  const rest = items.filter((_, i) => !order.includes(i));
  return [...picked, ...rest];
}
