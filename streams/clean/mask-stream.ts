import {
  ASSIGNMENT_SEPARATOR_SOURCE, AUTH_SCHEMES_SOURCE, EMAIL_MASK, maskSensitive, PEM_BEGIN_SOURCE, PEM_BODY_CLASS, PEM_END_SOURCE,
  PHONE_KEYWORD_SOURCE, PHONE_MASK, SECRET_KEY_SOURCE, SECRET_MASK, WHITESPACE_SPANNING_PATTERNS,
} from './mask.ts';

/**
 * The masker of mask.ts over a stream: text arrives in pieces cut anywhere (an LLM's sub-word
 * tokens) and leaves masked as soon as nothing later can change how it is masked.
 *
 * The promise: the concatenated output equals `maskSensitive(whole text)`, whatever the split,
 * as long as no pattern instance is longer than the hold limit (256 characters). Text is released
 * at whitespace — a cut at a whitespace character that no match crosses masks the two sides alone
 * exactly as the whole — and held back only while it could still become part of a pattern that
 * spans whitespace:
 *  - the unfinished word (after the last whitespace): any pattern may be in progress there;
 *  - a secret cue waiting for its value or with its value in progress (`password:`, `api_key = "…`,
 *    `Authorization: Bearer`, `Bearer`, a PEM `-----BEGIN … PRIVATE KEY-----` without its END line);
 *  - a phone number that may go on (digits with spaces) and the keyword before it (`call me at`);
 *  - a word that may be the name of an obfuscated address (`name [at] example [dot] com`).
 * A release is also checked against the whole held text (the two sides masked alone must equal
 * the whole masked), so a match seen whole is never cut.
 *
 * Past the limit, held text is released: a secret whose value is still in progress (a quoted
 * value, a PEM body, a long key or token) is masked up to its end — `[SECRET]` is written at once
 * and the rest of the value is swallowed as it arrives, never released — and anything else (a long
 * run of numbers, a word longer than the limit) is released masked as far as it is known.
 */

/** The most characters held back at once. */
export const STREAM_HOLD_LIMIT = 256;

const MASKS = [EMAIL_MASK, PHONE_MASK, SECRET_MASK];
const countMasks = (s: string) => MASKS.reduce((n, m) => n + s.split(m).length - 1, 0);

/**
 * Prefixes of the patterns that span whitespace, anchored at the end of the held text: where one
 * matches, the text from its start may still become part of a match. Each ends in `\S*`, the word
 * still in progress.
 */
/**
 * A pattern without its lookbehinds: what precedes a match may still be masked into something else
 * (`sk-…pqr.db_password = '` reads as a key once the vendor key before it is `[SECRET]`), so the
 * stream looks for matches more widely than the masker does; holding too much only costs a word's delay.
 */
function lenient(re: RegExp): RegExp {
  return new RegExp(re.source.replace(/\(\?<[!=](?:\\.|\[(?:\\.|[^\]\\])*\]|[^()\\[])*\)/g, ''), re.flags);
}

const PENDING: readonly RegExp[] = [
  // a secret's key, then its separator, then the value (bare, in progress)
  new RegExp(`${SECRET_KEY_SOURCE}["']?\\s*(?:${ASSIGNMENT_SEPARATOR_SOURCE}\\s*\\S*)?$`, 'i'),
  // Authorization: [scheme] credential
  new RegExp(`\\b(?:Proxy-)?Authorization["']?\\s*(?:[:=]\\s*["']?(?:(?:${AUTH_SCHEMES_SOURCE})\\s+)?\\S*)?$`, 'i'),
  /\bBearer\s*\S*$/,
  // a PEM header in progress (it contains spaces)
  /-----BEGIN[ A-Z0-9]{0,40}-{0,5}$/,
  // digits, spaces and phone punctuation: a number that may go on
  /[+(]?\d[\d\s().-]*$/,
  // a phone keyword (some are several words), then the number in progress
  new RegExp(`\\b${PHONE_KEYWORD_SOURCE}\\.?\\s*(?:[:#-]\\s*)?(?:\\+?\\(?(?:\\d[\\d ().-]*)?)?$`, 'i'),
  /\b(?:phone|call(?:\s+(?:me|us))?)\s+[a-z.]{0,6}$/i,
  // an obfuscated address: name, then [at] (perhaps in progress), domain parts, [dot] (perhaps in progress)
  /(?<![\w.+-])[\w.+-]{1,64}(?:\s|\s?[[({][a-z]{0,2}[\])}]?)$/i,
  /(?<![\w.+-])[\w.+-]{1,64}\s?[[({]at[\])}]\s?(?:[\w-]{1,63}(?:\s?(?:[[({]dot[\])}]|\.)\s?[\w-]{1,63}){0,4})?(?:\s|\s?(?:[[({][a-z]{0,3}[\])}]?|\.)\s?)?$/i,
];

/** Secret values in progress: their cue, and what ends the value. Past the limit the value is masked to its end. */
const VALUE_IN_PROGRESS: ReadonlyArray<{ re: RegExp; kind: 'quoted' | 'pem' }> = [
  { re: new RegExp(`(${SECRET_KEY_SOURCE}["']?\\s*${ASSIGNMENT_SEPARATOR_SOURCE}\\s*(["']))(?:(?!\\2)[^\\n])*$`, 'i'), kind: 'quoted' },
  { re: new RegExp(`${PEM_BEGIN_SOURCE}(?![\\s\\S]*?${PEM_END_SOURCE})[\\s\\S]*$`), kind: 'pem' },
];

/** How the vendor keys and tokens of mask.ts begin: a word past the limit that starts so is masked whole. */
const SECRET_PREFIX = /^["'(<]?(?:eyJ|sk-|(?:sk|rk)_(?:live|test)_|gh[pousr]_|github_pat_|glpat-|xox[abposre]-|AIza|ya29\.|whsec_|npm_|pypi-|hf_|SG\.|AKIA|ASIA|ABIA|ACCA|A3T)/;
const PENDING_ALL: readonly RegExp[] = [...PENDING, ...VALUE_IN_PROGRESS.map((v) => v.re)].map(lenient);
const SPANNING: readonly RegExp[] = WHITESPACE_SPANNING_PATTERNS.map(lenient);
const PEM_BEGIN = new RegExp(PEM_BEGIN_SOURCE);
const PEM_END = new RegExp(PEM_END_SOURCE);
const NOT_PEM_BODY = new RegExp(PEM_BODY_CLASS.replace('[', '[^'));
const WHITESPACE = /\s/;

/** What is being swallowed after a forced `[SECRET]`: until the value ends. */
type Swallow =
  | { kind: 'quoted'; quote: string }
  | { kind: 'pem'; tail: string }
  | { kind: 'word' };

function lastWhitespaceBefore(s: string, end: number): number {
  for (let i = end - 1; i >= 0; i--) if (WHITESPACE.test(s[i]!)) return i;
  return -1;
}

/** `cut` (just after a whitespace), moved back until no whitespace-spanning match in `h` runs across it. */
function outsideMatches(h: string, cut: number): number {
  if (cut <= 0) return 0;
  const spans: Array<[number, number]> = [];
  for (const re of SPANNING) {
    for (const m of h.matchAll(re)) if (/\s/.test(m[0])) spans.push([m.index, m.index + m[0].length]);
  }
  for (let moved = true; moved && cut > 0;) {
    moved = false;
    for (const [start, end] of spans) {
      if (start < cut && cut < end) { cut = lastWhitespaceBefore(h, start) + 1; moved = true; }
    }
  }
  return cut;
}

export class StreamMasker {
  private held = '';
  private swallowing: Swallow | null = null;
  /** Masks put in by this masker (not those already in the text). */
  masked = 0;

  /** Times the hold limit was reached (past it, the stream may mask more than the whole text would be). */
  forced = 0;
  /** Characters held back now (at most STREAM_HOLD_LIMIT once a push returns). */
  get holding(): number { return this.held.length; }

  /** Takes the next piece; returns the masked text that can be released now (often ''). */
  push(delta: string): string {
    this.held += delta;
    let out = '';
    for (;;) {
      if (this.swallowing) {
        out += this.swallow();
        if (this.swallowing) return out;
      }
      out += this.release(this.safeCut());
      if (this.held.length <= STREAM_HOLD_LIMIT) return out;
      out += this.force();
    }
  }

  /** The stream ended: everything still held, masked. */
  end(): string {
    if (this.swallowing) {
      this.swallowing = null;
      this.held = '';
    }
    return this.release(this.held.length);
  }

  /** The furthest position up to which the held text can be released now. */
  private safeCut(): number {
    const h = this.held;
    let cut = lastWhitespaceBefore(h, h.length) + 1;
    if (cut === 0) return 0;
    for (const re of PENDING_ALL) {
      const m = re.exec(h);
      if (m && m.index < cut) cut = m.index;
    }
    // a cut right after a whitespace character, and never inside anything a whitespace-spanning pattern matches
    // in the held text, each pattern on its own: which of two overlapping candidates the whole masks may depend on
    // what comes next (`0958 [at] eyJ…` is an address until the JWT ends, and then a phone number's last group)
    cut = outsideMatches(h, lastWhitespaceBefore(h, cut) + 1);
    // a match seen whole is never cut: the two sides masked alone must equal the whole masked
    if (cut > 0 && cut < h.length) {
      const whole = maskSensitive(h);
      while (cut > 0 && maskSensitive(h.slice(0, cut)) + maskSensitive(h.slice(cut)) !== whole) cut = lastWhitespaceBefore(h, cut - 1) + 1;
    }
    return cut;
  }

  /** The held text is over the limit and nothing can be released safely: mask what is pending to its end, or release what is known. */
  private force(): string {
    this.forced++;
    const h = this.held;
    for (const { re, kind } of VALUE_IN_PROGRESS) {
      const m = re.exec(h);
      if (!m) continue;
      const before = this.release(m.index);
      this.held = '';
      this.masked++;
      if (kind === 'quoted') {
        // `key: "` stays, the value becomes [SECRET], the closing quote follows when it comes
        this.swallowing = { kind: 'quoted', quote: m[2]! };
        return before + m[1]! + SECRET_MASK;
      }
      // a PEM key: masked up to its END line, or up to the first character a key body cannot hold
      const header = PEM_BEGIN.exec(m[0])!;
      const body = m[0].slice(header.index + header[0].length);
      const stop = NOT_PEM_BODY.exec(body);
      if (stop) this.held = body.slice(stop.index);
      else this.swallowing = { kind: 'pem', tail: m[0].slice(-80) };
      return before + SECRET_MASK;
    }
    // a long stretch that may go on (numbers and spaces, cues, a key followed by more text, one long word): release
    // up to a whitespace inside no match, leaving its last part held where it can; with no such cut, all of it
    const word = lastWhitespaceBefore(h, h.length) + 1;
    let cut = outsideMatches(h, lastWhitespaceBefore(h, h.length - 64) + 1);
    if (cut === 0) cut = outsideMatches(h, word);
    return cut > 0 ? this.release(cut) : this.releaseAll();
  }

  /**
   * Releases all that is held, masked as far as it is known; a key or token in progress at its end (by
   * its prefix, or because a mask reaches the end) is masked to the end of its word.
   */
  private releaseAll(): string {
    const h = this.held;
    const word = lastWhitespaceBefore(h, h.length) + 1;
    if (word < h.length && SECRET_PREFIX.test(h.slice(word))) {
      const before = this.release(word);
      this.held = '';
      this.masked++;
      this.swallowing = { kind: 'word' };
      return before + SECRET_MASK;
    }
    const out = this.release(h.length);
    if (word < h.length && out.endsWith(SECRET_MASK)) this.swallowing = { kind: 'word' };
    return out;
  }

  /** Swallows the rest of a value masked by force(), up to its end; what follows stays held. */
  private swallow(): string {
    const s = this.swallowing!;
    const h = this.held;
    if (s.kind === 'word') {
      const ws = h.search(/\s/);
      if (ws < 0) { this.held = ''; return ''; }
      this.held = h.slice(ws);
      this.swallowing = null;
      return '';
    }
    if (s.kind === 'quoted') {
      let i = 0;
      while (i < h.length && h[i] !== s.quote && h[i] !== '\n') i++;
      if (i === h.length) { this.held = ''; return ''; }
      this.swallowing = null;
      if (h[i] === '\n') { this.held = h.slice(i); return ''; }
      this.held = h.slice(i + 1);
      return s.quote;
    }
    // a PEM body: up to its END line, or the first character a key body cannot hold
    const seen = s.tail + h;
    const end = PEM_END.exec(seen);
    const stop = NOT_PEM_BODY.exec(h);
    if (end && (stop === null || end.index + end[0].length - s.tail.length <= stop.index)) {
      this.held = h.slice(Math.max(0, end.index + end[0].length - s.tail.length));
      this.swallowing = null;
      return '';
    }
    if (stop) {
      this.held = h.slice(stop.index);
      this.swallowing = null;
      return '';
    }
    s.tail = seen.slice(-80);
    this.held = '';
    return '';
  }

  private release(n: number): string {
    if (n <= 0) return '';
    const part = this.held.slice(0, n);
    this.held = this.held.slice(n);
    const out = maskSensitive(part);
    this.masked += Math.max(0, countMasks(out) - countMasks(part));
    return out;
  }
}
