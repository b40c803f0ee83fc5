import { z } from 'zod';
import { describeIssues } from '../../common/zod-issues.ts';
import { TributaryError } from '../../ports/errors.ts';
import type { ChatMessage, JsonSchema } from '../../ports/llm.ts';
import { categorySchema } from '../../schemas/content.ts';
import { contentWords, extractJson, isStopWord } from './text.ts';
import { renderPrompt, type PromptTemplate } from '../prompts/template.ts';

/**
 * Self-query: pull metadata filters (author, category) out of the question itself, so
 * "articles by Alice about Kafka" searches Alice's articles for "Kafka".
 * Without an LLM this is rules matched against a vocabulary of known authors and categories
 * that the caller supplies; with an LLM the model proposes JSON filters that are validated here.
 */

export interface SelfQueryVocabulary {
  authors: readonly string[];
  categories: readonly string[];
}

export interface ExtractedFilters {
  author?: string;
  category?: string;
}

export interface SelfQueryResult {
  filters: ExtractedFilters;
  /** The question with the filter phrases removed (the original if nothing was removed). */
  query: string;
}

/** Words that introduce an author. */
const AUTHOR_CUE = String.raw`(?:written\s+by|authored\s+by|posted\s+by|published\s+by|by|from|author)`;
/** Words after a singular category that show it is used as a filter ("article about …"). */
const CATEGORY_CUE = /^\s+(?:by|about|on|from|regarding|mentioning|written|authored|that|which|where)\b/i;
const NAME_WORD = String.raw`[\p{L}\p{N}][\p{L}\p{N}.'’_-]*`;
const ALIASES: Record<string, readonly string[]> = { repository: ['repo', 'repos'] };

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A phrase matched as whole words (no letter or digit right before or after). */
function phraseRegExp(phrase: string, flags: string): RegExp {
  const body = phrase.trim().split(/\s+/).map(escapeRegExp).join(String.raw`\s+`);
  return new RegExp(String.raw`(?<![\p{L}\p{N}])${body}(?![\p{L}\p{N}])`, flags);
}

export function pluralOf(word: string): string {
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  if (/(?:s|x|z|ch|sh)$/.test(word)) return `${word}es`;
  return `${word}s`;
}

/** Best-effort singular of an English plural ("repositories" → "repository"). */
export function singularOf(word: string): string {
  if (/[^aeiou]ies$/.test(word)) return `${word.slice(0, -3)}y`;
  if (/(?:ss|x|z|ch|sh)es$/.test(word)) return word.slice(0, -2);
  if (/[^su]s$/.test(word)) return word.slice(0, -1);
  return word;
}

function trimName(name: string): string {
  return name.replace(/['’]s$/u, '').replace(/[.,;:!?'’]+$/u, '').trim();
}

/**
 * Names the question might contain: the words after "by"/"from"/"author" (every prefix of up to
 * four words), possessives ("Alice's") and capitalised word runs. The caller checks which of them
 * are real authors (e.g. by counting their chunks in the index) and passes those as the vocabulary.
 */
export function authorCandidates(question: string, max = 8): string[] {
  const out: string[] = [];
  const add = (s: string) => {
    const t = trimName(s);
    if (t.length >= 2 && !isStopWord(t) && !out.includes(t)) out.push(t);
  };
  const cue = new RegExp(String.raw`(?<![\p{L}\p{N}])${AUTHOR_CUE}\s*:?\s+(${NAME_WORD}(?:\s+${NAME_WORD}){0,3})`, 'giu');
  for (const m of question.matchAll(cue)) {
    const ws = m[1]!.split(/\s+/);
    const prefix: string[] = [];
    for (const w of ws) {
      if (isStopWord(w.replace(/[.,;:!?]+$/u, '')) || /^(?:last|this|next|the)$/i.test(w)) break;
      prefix.push(w);
      add(prefix.join(' '));
      if (/[.,;:!?]$/u.test(w)) break;
    }
  }
  for (const m of question.matchAll(new RegExp(String.raw`(${NAME_WORD}(?:\s+${NAME_WORD}){0,2})['’]s(?![\p{L}\p{N}])`, 'gu'))) {
    add(m[1]!.split(/\s+/).filter((w) => /^\p{Lu}/u.test(w)).join(' ') || m[1]!);
  }
  for (const m of question.matchAll(/(?<![\p{L}\p{N}])(\p{Lu}[\p{L}\p{N}.'’-]*(?:\s+\p{Lu}[\p{L}\p{N}.'’-]*){0,3})/gu)) add(m[1]!);
  return out.slice(0, max);
}

/**
 * Category names the question might use as a filter: singular forms of words right before a cue
 * ("papers about"), then of the other plural words ("which papers discuss …"). The caller keeps those
 * the index holds.
 */
export function categoryCandidates(question: string, max = 4): string[] {
  const out: string[] = [];
  const add = (word: string) => {
    const w = singularOf(word.toLowerCase());
    if (categorySchema.safeParse(w).success && !isStopWord(w) && !out.includes(w)) out.push(w);
  };
  for (const m of question.matchAll(/([\p{L}][\p{L}\p{N}_-]*)(?=\s+(?:by|about|on|from|regarding|mentioning|written|authored)\b)/giu)) add(m[1]!);
  for (const m of question.matchAll(/(?<![\p{L}\p{N}])(\p{L}[\p{L}\p{N}_-]*)(?![\p{L}\p{N}])/gu)) {
    if (singularOf(m[1]!.toLowerCase()) !== m[1]!.toLowerCase()) add(m[1]!);
  }
  return out.slice(0, max);
}

interface Match { value: string; start: number; end: number; cued: boolean }

function findAuthor(question: string, authors: readonly string[]): Match | null {
  let best: Match | null = null;
  const sorted = [...authors].filter((a) => a.trim().length >= 2).sort((a, b) => b.length - a.length);
  for (const author of sorted) {
    const name = phraseRegExp(author, 'iu').source;
    const cued = new RegExp(String.raw`(?<![\p{L}\p{N}])${AUTHOR_CUE}\s*:?\s+(${name})(?:['’]s)?`, 'iu').exec(question);
    if (cued) {
      const m: Match = { value: author, start: cued.index, end: cued.index + cued[0].length, cued: true };
      if (!best || !best.cued || m.start < best.start) best = m;
      continue;
    }
    // without a cue the name must appear exactly as known (case-sensitive), e.g. "what did Alice write"
    const plain = phraseRegExp(author, 'u').exec(question);
    if (plain && (!best || (!best.cued && plain.index < best.start))) {
      best = { value: author, start: plain.index, end: plain.index + plain[0].length, cued: false };
    }
  }
  return best;
}

function findCategory(question: string, categories: readonly string[]): Match | null {
  let best: Match | null = null;
  for (const category of categories) {
    const plurals = [pluralOf(category), ...(ALIASES[category] ?? []).filter((a) => a.endsWith('s'))];
    for (const form of plurals) {
      const m = phraseRegExp(form, 'iu').exec(question);
      if (m && (!best || m.index < best.start)) best = { value: category, start: m.index, end: m.index + m[0].length, cued: false };
    }
    for (const form of [category, ...(ALIASES[category] ?? []).filter((a) => !a.endsWith('s'))]) {
      const re = phraseRegExp(form, 'giu');
      for (const m of question.matchAll(re)) {
        if (CATEGORY_CUE.test(question.slice(m.index + m[0].length)) && (!best || m.index < best.start)) {
          best = { value: category, start: m.index, end: m.index + m[0].length, cued: true };
        }
      }
    }
  }
  return best;
}

/** The categories `question` names as a word, in any of their forms ("post", "posts", "repos"). */
export function mentionedCategories(question: string, categories: readonly string[]): string[] {
  return categories.filter((c) => [c, pluralOf(c), ...(ALIASES[c] ?? [])].some((form) => phraseRegExp(form, 'iu').test(question)));
}

/** Rule-based self-query against a vocabulary of known authors and categories. */
export function extractFiltersByRules(question: string, vocab: SelfQueryVocabulary): SelfQueryResult {
  const filters: ExtractedFilters = {};
  const author = findAuthor(question, vocab.authors);
  const category = findCategory(question, vocab.categories);
  if (author) filters.author = author.value;
  if (category) filters.category = category.value;
  let query = question;
  if (author?.cued) query = `${question.slice(0, author.start)} ${question.slice(author.end)}`;
  query = query.replace(/\s+/g, ' ').replace(/\s+([?.!,])/g, '$1').trim();
  if (contentWords(query).length === 0) query = question;
  return { filters, query };
}

const llmFiltersSchema = z.object({
  author: z.string().trim().min(1).max(200).nullish(),
  category: z.string().trim().toLowerCase().pipe(categorySchema).nullish(),
});

/** `template`: prompts/rag-self-query.md ({{categories}}: the categories a filter may name). */
export function buildSelfQueryMessages(template: PromptTemplate, question: string, vocab: SelfQueryVocabulary): ChatMessage[] {
  const categories = vocab.categories.length ? vocab.categories.join(', ') : '(any lower-case name)';
  return [
    { role: 'system', content: renderPrompt(template, { categories }) },
    { role: 'user', content: question },
  ];
}

/**
 * The JSON schema the reply must match (enforced while decoding by a local model): author one of the
 * known authors found in the question (any name when none was found), category one of the known
 * categories the question names (singular, plural or alias), or null.
 */
export function selfQueryResponseSchema(question: string, vocab: SelfQueryVocabulary): { name: string; schema: JsonSchema } {
  // a free name is short: without a bound a small model writes on until its token budget cuts the JSON off
  const author = vocab.authors.length > 0 ? { enum: [...vocab.authors, null] } : { type: ['string', 'null'], maxLength: 60 };
  // a category the question never names cannot be a filter: the model may only pick among those it does
  const category = { enum: [...mentionedCategories(question, vocab.categories), null] };
  return { name: 'search_filters', schema: { type: 'object', properties: { author, category }, required: ['author', 'category'], additionalProperties: false } };
}

/** Validates the model's reply. Throws LLM_REJECTED when it is not the JSON asked for. */
export function parseSelfQueryReply(reply: string): ExtractedFilters {
  let raw: unknown;
  try {
    raw = extractJson(reply);
  } catch (e) {
    throw new TributaryError('LLM_REJECTED', `self-query reply is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const parsed = llmFiltersSchema.safeParse(raw);
  if (!parsed.success) {
    throw new TributaryError('LLM_REJECTED', `self-query reply does not match {author, category}: ${describeIssues(parsed.error.issues, '')}`);
  }
  const out: ExtractedFilters = {};
  if (parsed.data.author) out.author = parsed.data.author;
  if (parsed.data.category) out.category = parsed.data.category;
  return out;
}

/** Keeps only filter values that are in the vocabulary, returning the vocabulary's spelling. */
export function confirmFilters(filters: ExtractedFilters, vocab: SelfQueryVocabulary): ExtractedFilters {
  const out: ExtractedFilters = {};
  const author = filters.author && vocab.authors.find((a) => a.toLowerCase() === filters.author!.toLowerCase());
  const category = filters.category && vocab.categories.find((c) => c === filters.category);
  if (author) out.author = author;
  if (category) out.category = category;
  return out;
}
