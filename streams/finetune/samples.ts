import { chunkerFor } from '../chunk/chunker.ts';
import type { FeedbackEvent } from '../../schemas/feedback.ts';

/**
 * Training samples from what the system holds, in the JSONL formats fine-tuning APIs take. Pure and
 * deterministic: the same items (in any order) give the same bytes, so a version rebuilt from the
 * same items has the same id.
 *
 * chat-sft from documents — one sample per passage. A document is cut into passages of at most
 * PASSAGE_TOKENS tokens along its structure (the category's chunker: headings, paragraphs, code),
 * at most MAX_PASSAGES per document. The assistant turn is always the author's own passage, never
 * generated text, so nothing invented becomes a training target. The user turn is the instruction
 * the passage answers: a template built from the document's category, author, title and place
 * (the opening, or "continue … after: <the previous passage's last words>"), or — with
 * `instructions: "llm"` — a request the configured LLM wrote for that passage.
 *
 * dpo from feedback — a preference pair is the question, the answer preferred and the answer not:
 * a correction is preferred to the answer it corrects; without one, for the same question (compared
 * case- and space-insensitively) an answer rated up (or 4–5) is preferred to one rated down (1–2).
 * Only the latest feedback on one traceId counts (a user may change their mind).
 *
 * chat-sft from feedback — the question and the answer the user wanted: the correction, else an
 * answer rated up (or 4–5).
 */

export const PASSAGE_TOKENS = 512;
export const MAX_PASSAGES = 8;
export const SFT_SYSTEM_PROMPT = 'You write in the voice and style of the author the user names, on the subject they ask for.';
/** Bumped when the template wording changes (a different template is a different dataset). */
export const TEMPLATE_VERSION = 1;

export interface DatasetDocument {
  docId: string;
  version: number;
  category: string;
  author: string;
  title: string | null;
  url: string | null;
  text: string;
  contentHash: string;
}

export interface Passage {
  doc: DatasetDocument;
  index: number;
  count: number;
  text: string;
  /** The previous passage's last words ("" for the first). */
  after: string;
}

/** The document's passages, in order. */
export function passagesOf(doc: DatasetDocument): Passage[] {
  const chunks = chunkerFor(doc.category).chunk(doc.text, { maxTokens: PASSAGE_TOKENS, overlapTokens: 0 })
    .map((c) => c.text.trim()).filter((t) => t.length > 0).slice(0, MAX_PASSAGES);
  return chunks.map((text, index) => ({ doc, index, count: chunks.length, text, after: index === 0 ? '' : lastWords(chunks[index - 1]!, 24) }));
}

/** The template instruction for a passage. */
export function templateInstruction(p: Passage): string {
  const { category, author, title } = p.doc;
  const what = title ? `the ${category} "${title}" by ${author}` : `a ${category} by ${author}`;
  if (p.count === 1) return `Write ${what}.`;
  if (p.index === 0) return `Write the opening of ${what}.`;
  return `Continue ${what} (part ${p.index + 1} of ${p.count}). It picks up after: "${p.after}"`;
}

/** The prompt an LLM gets to write a passage's instruction (its reply: {"instruction": "…"}). */
export function instructionPrompt(p: Passage): { system: string; user: string } {
  const { category, author, title } = p.doc;
  return {
    system: 'You write training data. Given a passage, write the one request a user could make for which this passage is the ideal answer. '
      + 'Write it as the user would: one or two sentences, naming the subject, never quoting the passage. Reply with JSON: {"instruction": "..."}.',
    user: `A passage from the ${category}${title ? ` "${title}"` : ''} by ${author}:\n\n${p.text}`,
  };
}

export const INSTRUCTION_SCHEMA = {
  type: 'object',
  properties: { instruction: { type: 'string', minLength: 8, maxLength: 400 } },
  required: ['instruction'],
  additionalProperties: false,
} as const;

/** A usable instruction from an LLM reply, or null. */
export function parseInstruction(reply: string): string | null {
  try {
    const v = JSON.parse(reply) as { instruction?: unknown };
    const s = typeof v.instruction === 'string' ? v.instruction.replace(/\s+/g, ' ').trim() : '';
    return s.length >= 8 && s.length <= 400 ? s : null;
  } catch {
    return null;
  }
}

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }

/** chat-sft JSONL from documents; `instructionOf` gives each passage's instruction. */
export function chatSftFromDocuments(docs: readonly DatasetDocument[], instructionOf: (p: Passage) => string): { jsonl: string; samples: number } {
  const lines: string[] = [];
  for (const doc of sortBy(docs, (d) => d.docId)) {
    for (const p of passagesOf(doc)) {
      lines.push(JSON.stringify({ messages: [
        { role: 'system', content: SFT_SYSTEM_PROMPT },
        { role: 'user', content: instructionOf(p) },
        { role: 'assistant', content: p.text },
      ] satisfies ChatMessage[] }));
    }
  }
  return { jsonl: joinLines(lines), samples: lines.length };
}

export type FeedbackItem = Pick<FeedbackEvent, 'id' | 'traceId' | 'query' | 'answer' | 'rating' | 'correction' | 'receivedAtMs'>;

const isGood = (r: FeedbackEvent['rating']) => r === 'up' || (typeof r === 'number' && r >= 4);
const isBad = (r: FeedbackEvent['rating']) => r === 'down' || (typeof r === 'number' && r <= 2);
const normaliseQuery = (q: string) => q.toLowerCase().replace(/\s+/g, ' ').trim();

/** Feedback in a fixed order with only the latest per traceId. */
function latestFeedback(items: readonly FeedbackItem[]): FeedbackItem[] {
  const ordered = [...items].sort((a, b) => a.receivedAtMs - b.receivedAtMs || cmp(a.id, b.id));
  const byTrace = new Map<string, FeedbackItem>();
  const out: FeedbackItem[] = [];
  for (const f of ordered) {
    if (f.traceId) byTrace.set(f.traceId, f);
    else out.push(f);
  }
  return [...out, ...byTrace.values()].sort((a, b) => a.receivedAtMs - b.receivedAtMs || cmp(a.id, b.id));
}

export interface PreferencePair { query: string; preferred: string; rejected: string; from: string[] }

/** Preference pairs from feedback (see the module comment). */
export function preferencePairs(items: readonly FeedbackItem[]): PreferencePair[] {
  const pairs: PreferencePair[] = [];
  const seen = new Set<string>();
  const add = (p: PreferencePair) => {
    const key = JSON.stringify([normaliseQuery(p.query), p.preferred, p.rejected]);
    if (p.preferred === p.rejected || seen.has(key)) return;
    seen.add(key);
    pairs.push(p);
  };
  const latest = latestFeedback(items);
  for (const f of latest) {
    if (f.correction && f.query && f.answer) add({ query: f.query, preferred: f.correction, rejected: f.answer, from: [f.id] });
  }
  const byQuery = new Map<string, FeedbackItem[]>();
  for (const f of latest) {
    if (!f.query || !f.answer) continue;
    const k = normaliseQuery(f.query);
    byQuery.set(k, [...(byQuery.get(k) ?? []), f]);
  }
  for (const group of byQuery.values()) {
    const good = group.filter((f) => isGood(f.rating));
    if (good.length === 0) continue;
    for (const bad of group.filter((f) => isBad(f.rating))) {
      // the latest answer rated good, against each answer rated bad
      const best = good[good.length - 1]!;
      add({ query: bad.query!, preferred: best.answer!, rejected: bad.answer!, from: [best.id, bad.id] });
    }
  }
  return pairs;
}

/** dpo JSONL (OpenAI's preference format) from feedback. */
export function dpoFromFeedback(items: readonly FeedbackItem[]): { jsonl: string; samples: number } {
  const lines = preferencePairs(items).map((p) => JSON.stringify({
    input: { messages: [{ role: 'user', content: p.query }] },
    preferred_output: [{ role: 'assistant', content: p.preferred }],
    non_preferred_output: [{ role: 'assistant', content: p.rejected }],
  }));
  return { jsonl: joinLines(lines), samples: lines.length };
}

/** chat-sft JSONL from feedback: the question and the wanted answer. */
export function chatSftFromFeedback(items: readonly FeedbackItem[]): { jsonl: string; samples: number } {
  const lines: string[] = [];
  for (const f of latestFeedback(items)) {
    const wanted = f.correction ?? (isGood(f.rating) ? f.answer : undefined);
    if (!f.query || !wanted) continue;
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: f.query }, { role: 'assistant', content: wanted }] satisfies ChatMessage[] }));
  }
  return { jsonl: joinLines(lines), samples: lines.length };
}

function lastWords(text: string, n: number): string {
  const words = text.replace(/\s+/g, ' ').trim().split(' ');
  return (words.length > n ? '… ' : '') + words.slice(-n).join(' ');
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
function sortBy<T>(xs: readonly T[], key: (x: T) => string): T[] {
  return [...xs].sort((a, b) => cmp(key(a), key(b)));
}
const joinLines = (lines: string[]) => (lines.length === 0 ? '' : `${lines.join('\n')}\n`);
