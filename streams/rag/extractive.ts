import { contentWords, sentences } from './text.ts';

/**
 * The answer when no LLM is configured: the sentences of the top sources that best match the
 * question, each cited [n] (n = the source's position, from 1), under a label that says what it is.
 */

export const EXTRACTIVE_LABEL = 'Extractive answer (no LLM configured)';

export interface ExtractiveOptions {
  maxSentences?: number;
  /** Only the first `maxSources` sources are quoted. */
  maxSources?: number;
}

export interface ExtractiveSentence {
  /** 1-based source number, as cited. */
  source: number;
  text: string;
  score: number;
}

export interface ExtractiveAnswer {
  answer: string;
  sentences: ExtractiveSentence[];
  /** Source numbers cited, ascending. */
  cited: number[];
}

/** A crude stem so "streams" matches "stream". */
function stem(w: string): string {
  return w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w;
}

export function extractiveAnswer(question: string, sources: ReadonlyArray<{ text: string }>, opts: ExtractiveOptions = {}): ExtractiveAnswer {
  const maxSentences = opts.maxSentences ?? 3;
  const maxSources = Math.min(sources.length, opts.maxSources ?? 5);
  if (maxSources === 0) {
    return { answer: `${EXTRACTIVE_LABEL}: no indexed content matches the question.`, sentences: [], cited: [] };
  }
  const q = new Set(contentWords(question).map(stem));
  const candidates: ExtractiveSentence[] = [];
  for (let i = 0; i < maxSources; i++) {
    for (const s of sentences(sources[i]!.text)) {
      if (s.length < 3) continue;
      const ws = new Set(contentWords(s).map(stem));
      let hits = 0;
      for (const w of ws) if (q.has(w)) hits++;
      if (hits === 0) continue;
      // more distinct question words first; earlier (better-ranked) sources and shorter sentences break ties
      const score = hits + 0.5 * (1 - i / maxSources) + 0.1 / Math.sqrt(Math.max(1, ws.size));
      candidates.push({ source: i + 1, text: s.length > 600 ? `${s.slice(0, 600)}…` : s, score });
    }
  }
  let chosen = candidates.sort((a, b) => b.score - a.score).slice(0, maxSentences);
  if (chosen.length === 0) {
    const first = sentences(sources[0]!.text)[0] ?? sources[0]!.text.slice(0, 300);
    chosen = [{ source: 1, text: first, score: 0 }];
  }
  const answer = `${EXTRACTIVE_LABEL}:\n${chosen.map((c) => `${c.text} [${c.source}]`).join('\n')}`;
  return { answer, sentences: chosen, cited: [...new Set(chosen.map((c) => c.source))].sort((a, b) => a - b) };
}
