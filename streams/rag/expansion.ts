import { z } from 'zod';
import { TributaryError } from '../../ports/errors.ts';
import type { ChatMessage, JsonSchema } from '../../ports/llm.ts';
import { extractJson } from './text.ts';
import { renderPrompt, type PromptTemplate } from '../prompts/template.ts';

/**
 * Query expansion: N rephrasings of the question, searched alongside it and fused with RRF.
 * The original question is always kept (first). Needs an LLM; without one the step is skipped.
 */

/** `template`: prompts/rag-expansion.md ({{n}}: how many rephrasings). */
export function buildExpansionMessages(template: PromptTemplate, question: string, n: number): ChatMessage[] {
  return [
    { role: 'system', content: renderPrompt(template, { n }) },
    { role: 'user', content: question },
  ];
}

/** Longest variant kept, in characters. */
const MAX_VARIANT_CHARS = 300;

/** The JSON schema of the reply (enforced while decoding by a local model). */
export function expansionResponseSchema(n: number): { name: string; schema: JsonSchema } {
  return { name: 'search_queries', schema: { type: 'object', properties: { queries: { type: 'array', items: { type: 'string', maxLength: MAX_VARIANT_CHARS }, minItems: 1, maxItems: n } }, required: ['queries'], additionalProperties: false } };
}

const replySchema = z.union([
  z.object({ queries: z.array(z.string()) }),
  z.array(z.string()),
]);

/** Returns [original, ...up to n distinct variants]. Throws LLM_REJECTED when the reply is unusable. */
export function parseExpansionReply(reply: string, question: string, n: number): string[] {
  let list: string[];
  try {
    const parsed = replySchema.parse(extractJson(reply));
    list = Array.isArray(parsed) ? parsed : parsed.queries;
  } catch {
    // tolerate a plain list, one query per line
    list = reply.split('\n').map((l) => l.replace(/^\s*(?:[-*•]|\d+[.)])\s*/, '').replace(/^["']|["']$/g, '').trim()).filter((l) => l.length > 0 && !/[{}[\]]/.test(l));
    if (list.length === 0) throw new TributaryError('LLM_REJECTED', 'query-expansion reply holds no queries');
  }
  const out = [question];
  const seen = new Set([norm(question)]);
  for (const q of list) {
    const t = q.replace(/\s+/g, ' ').trim().slice(0, MAX_VARIANT_CHARS);
    if (!t || seen.has(norm(t))) continue;
    seen.add(norm(t));
    out.push(t);
    if (out.length > n) break;
  }
  return out;
}

function norm(s: string): string {
  return s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}
