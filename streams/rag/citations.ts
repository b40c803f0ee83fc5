/**
 * Keeps an answer's citations honest while it streams: a marker like [3] or [1, 2] that names a
 * source the model was not given is taken out of the text (and counted), so an answer never cites a
 * source that does not exist. Text is held back only while a marker may be forming ("[", "[1", …),
 * never more than a few characters. Pure: text in, text out.
 */

/** The longest marker considered: "[12, 13, 14, 15]". */
const MAX_MARKER = 24;
const PARTIAL = /^\[\d{0,3}(?:\s*,\s*\d{0,3})*$/;
const COMPLETE = /^\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]$/;

export class CitationFilter {
  private readonly sources: number;
  private pending = '';
  /** Source numbers the text cites (1-based), in order of first citation. */
  readonly cited: number[] = [];
  /** Numbers cited that name no source, each once; they were removed from the text. */
  readonly removed: number[] = [];

  /** `sources`: how many sources the answer may cite ([1]..[sources]). */
  constructor(sources: number) {
    this.sources = sources;
  }

  /** Feeds a piece of the answer; returns the text that can be passed on now. */
  push(text: string): string {
    let out = '';
    for (const ch of text) {
      if (this.pending === '') {
        if (ch === '[') this.pending = ch;
        else out += ch;
        continue;
      }
      this.pending += ch;
      if (ch === ']') {
        out += this.resolve(this.pending);
        this.pending = '';
      } else if (!PARTIAL.test(this.pending) || this.pending.length > MAX_MARKER) {
        // not a citation after all ("[note]", "[a"): pass it on; a new "[" may start one
        const held = this.pending;
        this.pending = '';
        out += held.slice(0, -1);
        out += this.push(held.slice(-1));
      }
    }
    return out;
  }

  /** The text still held back at the end of the answer (an unfinished marker is passed on as text). */
  end(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }

  private resolve(marker: string): string {
    const m = COMPLETE.exec(marker);
    if (!m) return marker;
    const numbers = m[1]!.split(',').map((n) => Number(n.trim()));
    const kept = numbers.filter((n) => n >= 1 && n <= this.sources);
    for (const n of numbers) {
      if (kept.includes(n)) {
        if (!this.cited.includes(n)) this.cited.push(n);
      } else if (!this.removed.includes(n)) {
        this.removed.push(n);
      }
    }
    if (kept.length === numbers.length) return marker;
    return kept.length > 0 ? `[${kept.join(', ')}]` : '';
  }
}
