import { z } from 'zod';
import { TributaryError } from '../../ports/errors.ts';
import type { ChatMessage, JsonSchema } from '../../ports/llm.ts';
import { renderPrompt, type PromptTemplate } from '../prompts/template.ts';
import { extractJson } from './text.ts';

/**
 * RAG guardrails, pure.
 *
 * Prompt injection: a documented rule set over the question and over every retrieved chunk — text
 * that tries to override the instructions, change the model's role, extract the system prompt, or
 * smuggle chat-template markers. A rule names what it caught. On the question the configured
 * action is to block (an error to the caller) or to flag; a retrieved chunk that trips a rule is
 * left out of the context (block) or kept and reported (flag).
 *
 * With TRIBUTARY_GUARD_INJECTION_LLM=on, an LLM classifier (prompts/guard-injection.md) reads the
 * question and the retrieved chunks too, in one call, and what it flags is treated as a rule hit
 * ("llm-classifier"). The classifier adds to the rule set, never replaces it: when it cannot answer,
 * the rules alone decide, and that is reported.
 *
 * PII and secrets: the answer goes through the same masker as ingestion (e-mails, phone numbers,
 * credentials and key-like tokens) as it streams (streams/clean/mask-stream.ts): the streamed answer
 * equals the whole answer masked, however the deltas split it.
 */

export interface InjectionRule { id: string; description: string; pattern: RegExp }

export const INJECTION_RULES: readonly InjectionRule[] = [
  { id: 'override-instructions', description: 'asks to ignore, forget or override the instructions', pattern: /\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|all|any|your|the|system)\b[^.\n]{0,30}\b(?:instructions?|prompts?|rules?|directions?|guidelines?)\b/i },
  { id: 'new-instructions', description: 'announces new instructions that replace the system\'s', pattern: /\b(?:new|updated|real|actual)\s+(?:system\s+)?instructions?\s*(?::|are\b|follow\b)/i },
  { id: 'role-change', description: 'tells the model it is now something else (an unrestricted persona, developer mode)', pattern: /\b(?:you\s+are\s+now|from\s+now\s+on\s+you\s+(?:are|will)|act\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|evil)|developer\s+mode|\bDAN\b\s+mode|jailbreak)/i },
  { id: 'prompt-extraction', description: 'asks for the system prompt or hidden instructions', pattern: /\b(?:reveal|show|print|repeat|output|leak|tell\s+me)\b[^.\n]{0,30}\b(?:system\s+prompt|hidden\s+(?:prompt|instructions?)|initial\s+(?:prompt|instructions?)|your\s+(?:prompt|instructions))/i },
  { id: 'template-markers', description: 'contains chat-template or role markers meant for the model', pattern: /<\|(?:im_start|im_end|system|endoftext|start_header_id|eot_id)\|>|\[\/?INST\]|<<\/?SYS>>|^\s*#{2,}\s*(?:system|instruction)s?\s*:?\s*$|^\s*(?:system|assistant)\s*:\s/im },
];

export interface InjectionVerdict { flagged: boolean; rules: string[] }

export function detectInjection(text: string): InjectionVerdict {
  const rules = INJECTION_RULES.filter((r) => r.pattern.test(text)).map((r) => r.id);
  return { flagged: rules.length > 0, rules };
}

/** Characters of each text the classifier reads. */
const CLASSIFIER_TEXT_CHARS = 600;

/** The classifier's messages: [0] the question, [1..] the retrieved passages. */
export function buildInjectionMessages(template: PromptTemplate, question: string, passages: readonly string[]): ChatMessage[] {
  const texts = [question, ...passages].map((t, i) => `[${i}] ${t.replace(/\s+/g, ' ').trim().slice(0, CLASSIFIER_TEXT_CHARS)}`);
  return [{ role: 'system', content: renderPrompt(template) }, { role: 'user', content: texts.join('\n') }];
}

/** The reply's JSON schema: the numbers of the texts that are injections (0 = the question), and a reason. */
export function injectionResponseSchema(passages: number): { name: string; schema: JsonSchema } {
  const numbers = Array.from({ length: passages + 1 }, (_, i) => i);
  return {
    name: 'injections',
    schema: { type: 'object', properties: { injections: { type: 'array', items: { enum: numbers }, maxItems: passages + 1 }, reason: { type: 'string', maxLength: 200 } }, required: ['injections', 'reason'], additionalProperties: false },
  };
}

const injectionReplySchema = z.object({ injections: z.array(z.coerce.number().int()), reason: z.string().optional() });

/** The texts the classifier flags: `query` (text 0) and the zero-based passages. Throws LLM_REJECTED when the reply is unusable. */
export function parseInjectionReply(reply: string, passages: number): { query: boolean; passages: number[]; reason: string } {
  let parsed;
  try {
    parsed = injectionReplySchema.parse(extractJson(reply));
  } catch (e) {
    throw new TributaryError('LLM_REJECTED', `the injection classifier's reply is not {"injections": [numbers], "reason": "…"}: ${(e as Error).message}`, { cause: e });
  }
  const flagged = [...new Set(parsed.injections.filter((n) => n >= 0 && n <= passages))];
  return { query: flagged.includes(0), passages: flagged.filter((n) => n > 0).map((n) => n - 1).sort((a, b) => a - b), reason: (parsed.reason ?? '').slice(0, 200) };
}
