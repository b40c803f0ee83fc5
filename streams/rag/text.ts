/** Small text helpers shared by the retrieval steps: word lists, stop words, sentence splitting. */

const STOP_WORDS = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'can', 'did', 'do', 'does', 'for', 'from', 'had', 'has', 'have',
  'how', 'i', 'if', 'in', 'into', 'is', 'it', 'its', 'me', 'my', 'of', 'on', 'or', 'our', 'so', 'than', 'that', 'the',
  'their', 'them', 'then', 'there', 'these', 'they', 'this', 'those', 'to', 'was', 'we', 'were', 'what', 'when', 'where',
  'which', 'who', 'whom', 'why', 'will', 'with', 'would', 'you', 'your', 'about', 'tell', 'explain', 'describe', 'please',
  'any', 'all', 'some', 'should', 'could', 'there', 'here', 'not', 'no', 'yes', 'also', 'just', 'only',
]);

/** Lower-cased words (letters and digits, any script). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Words that carry meaning for matching (stop words and 1-letter words dropped). */
export function contentWords(text: string): string[] {
  return words(text).filter((w) => w.length > 1 && !STOP_WORDS.has(w));
}

export function isStopWord(word: string): boolean {
  return STOP_WORDS.has(word.toLowerCase());
}

/**
 * Splits text into sentences: at ".", "!", "?" followed by white space and an upper-case letter,
 * digit or quote, and at blank lines. Good enough for picking quotable sentences; not a parser.
 */
export function sentences(text: string): string[] {
  const out: string[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const flat = para.replace(/\s+/g, ' ').trim();
    if (!flat) continue;
    for (const s of flat.split(/(?<=[.!?])\s+(?=[\p{Lu}\p{N}"'([])/u)) {
      const t = s.trim();
      if (t) out.push(t);
    }
  }
  return out;
}

/** Finds the first JSON object or array in a model's reply (models like to wrap JSON in prose or fences). */
export function extractJson(text: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  const body = fenced ? fenced[1]! : text;
  const starts = [body.indexOf('{'), body.indexOf('[')].filter((i) => i >= 0);
  if (starts.length === 0) throw new SyntaxError('no JSON object or array in the reply');
  const start = Math.min(...starts);
  const open = body[start]!;
  const close = open === '{' ? '}' : ']';
  const end = body.lastIndexOf(close);
  if (end <= start) throw new SyntaxError('unterminated JSON in the reply');
  return JSON.parse(body.slice(start, end + 1));
}
