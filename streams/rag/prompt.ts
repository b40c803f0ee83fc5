import { countTokens, decode, encode } from 'gpt-tokenizer';
import { TributaryError } from '../../ports/errors.ts';
import type { ChatMessage } from '../../ports/llm.ts';
import { renderPrompt, type PromptTemplate } from '../prompts/template.ts';

/**
 * The grounded-answer prompt, built within a token budget: the context window minus the answer
 * budget minus the instructions and the question. Context chunks are numbered [1], [2], … in the
 * order given (best first) so the answer can cite them; chunks that don't fit are left out and the
 * last one that partly fits is truncated. Token counts use gpt-tokenizer (o200k), an estimate for
 * models with other tokenizers — hence a safety margin.
 */

export interface ContextChunk {
  title: string | null;
  url: string | null;
  text: string;
}

export interface AnswerPromptOptions {
  /** The answer prompt's template (prompts/rag-answer.md): the system message. */
  template: PromptTemplate;
  question: string;
  chunks: readonly ContextChunk[];
  /** The model's context window in tokens. */
  contextTokens: number;
  /** Tokens kept free for the answer; default min(1024, contextTokens / 4). */
  answerTokens?: number;
}

export interface AnswerPrompt {
  messages: ChatMessage[];
  /** How many chunks (from the start of `chunks`) are in the prompt: they are [1]..[included]. */
  included: number;
  /** The last included chunk was cut short. */
  truncated: boolean;
  /** Chunks left out for lack of room. */
  omitted: number;
  promptTokens: number;
  answerTokens: number;
}

/** Chat formats add a few tokens per message; plus a margin for tokenizer differences. */
const PER_MESSAGE_TOKENS = 4;
const MARGIN = 0.05;
/** A truncated chunk shorter than this is not worth including. */
const MIN_PARTIAL_TOKENS = 32;

export function defaultAnswerTokens(contextTokens: number): number {
  return Math.min(1024, Math.floor(contextTokens / 4));
}

function header(n: number, c: ContextChunk): string {
  const parts = [`[${n}]`];
  if (c.title) parts.push(c.title);
  if (c.url) parts.push(`(${c.url})`);
  return parts.join(' ');
}

function userMessage(question: string, blocks: string[]): string {
  const context = blocks.length ? blocks.join('\n\n') : '(no context passages)';
  return `Context:\n${context}\n\nQuestion: ${question}`;
}

export function buildAnswerPrompt(opts: AnswerPromptOptions): AnswerPrompt {
  const answerTokens = opts.answerTokens ?? defaultAnswerTokens(opts.contextTokens);
  const system = renderPrompt(opts.template);
  const budget = Math.floor(opts.contextTokens * (1 - MARGIN)) - answerTokens - 2 * PER_MESSAGE_TOKENS
    - countTokens(system) - countTokens(userMessage(opts.question, []));
  if (budget < 0) {
    throw new TributaryError('INVALID_INPUT', `the question does not fit the model's ${opts.contextTokens}-token context window with ${answerTokens} tokens kept for the answer`, {
      details: [{ path: 'query', message: 'too long for the model context window' }],
    });
  }
  const blocks: string[] = [];
  let used = 0;
  let truncated = false;
  for (const [i, c] of opts.chunks.entries()) {
    const head = `${header(i + 1, c)}\n`;
    const sep = blocks.length ? 2 : 0; // "\n\n" between blocks
    const headTokens = countTokens(head) + sep;
    const textTokens = encode(c.text);
    if (used + headTokens + textTokens.length <= budget) {
      blocks.push(head + c.text);
      used += headTokens + textTokens.length;
      continue;
    }
    const room = budget - used - headTokens - 1;
    if (room >= MIN_PARTIAL_TOKENS) {
      blocks.push(`${head}${decode(textTokens.slice(0, room))}…`);
      truncated = true;
    }
    break;
  }
  const messages: ChatMessage[] = [
    { role: 'system', content: system },
    { role: 'user', content: userMessage(opts.question, blocks) },
  ];
  const promptTokens = messages.reduce((n, m) => n + PER_MESSAGE_TOKENS + countTokens(m.content), 0);
  return { messages, included: blocks.length, truncated, omitted: opts.chunks.length - blocks.length, promptTokens, answerTokens };
}
