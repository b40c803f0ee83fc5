/**
 * Shared text normalisation for every category: line endings, invisible characters, Unicode NFKC,
 * and whitespace (paragraph breaks and code indentation preserved). Pure string functions.
 */

/** CRLF, lone CR, NEL, LS, PS, VT and FF become "\n" (PS and FF: a paragraph break). */
export function normalizeNewlines(text: string): string {
  return text
    .replace(/\r\n?|\u0085|\u2028|\v/g, '\n')
    .replace(/\u2029|\f/g, '\n\n');
}

// C0/C1 controls except TAB and LF; soft hyphen; Mongolian vowel separator; zero-width space;
// LRM/RLM/ALM; bidi embeddings, overrides and isolates ("Trojan Source"); word joiner and the
// invisible operators; BOM / ZWNBSP; interlinear annotation and object replacement characters.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const INVISIBLE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFC]/g;
const JOINERS = /[\u200C\u200D]/g;
const KEEP_JOINER_AROUND = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0F\p{M}]|[^\p{ASCII}\p{P}\p{S}\p{Z}\p{Cc}]/u;

/**
 * Removes zero-width and control characters. ZWJ/ZWNJ are kept only between non-ASCII letters or
 * marks (Indic and Arabic-script spelling) and inside emoji sequences (👩‍💻); anywhere else they
 * are invisible noise, often used to dodge filters ("pass\u200Dword").
 */
export function removeInvisible(text: string): string {
  let out = text.replace(INVISIBLE, '');
  if (out.includes('\u200C') || out.includes('\u200D')) {
    out = out.replace(JOINERS, (j: string, offset: number, s: string) => {
      const before = offset === 0 ? '' : charBefore(s, offset);
      const after = charAt(s, offset + 1);
      return before !== '' && after !== '' && KEEP_JOINER_AROUND.test(before) && KEEP_JOINER_AROUND.test(after) ? j : '';
    });
  }
  return out;
}

function charBefore(s: string, offset: number): string {
  const lo = s.charCodeAt(offset - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && offset >= 2) return s.slice(offset - 2, offset);
  return s.slice(offset - 1, offset);
}

function charAt(s: string, offset: number): string {
  const cp = s.codePointAt(offset);
  return cp === undefined ? '' : String.fromCodePoint(cp);
}

/** Unicode NFKC: full-width forms, ligatures, compatibility spaces (NBSP, ideographic space) folded. */
export function normalizeUnicode(text: string): string {
  return text.normalize('NFKC');
}

/** Line ends, invisible characters, NFKC: run before and after category-specific cleaning. */
export function normalizeCharacters(text: string): string {
  return removeInvisible(normalizeUnicode(normalizeNewlines(text)));
}

export interface WhitespaceOptions {
  /** Keep leading indentation outside code fences (markdown nesting, indented code). */
  keepIndent: boolean;
  /** Collapse runs of spaces and tabs inside a line (outside code). */
  collapseInline: boolean;
}

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})/;

/** True if `line` closes a fence opened with `fence` (same character, at least as long, nothing after). */
export function closesFence(line: string, fence: string): boolean {
  const m = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line);
  return m !== null && m[1]![0] === fence[0] && m[1]!.length >= fence.length;
}

/** Opening fence marker of `line`, if it opens a fenced code block. */
export function fenceOpening(line: string): string | undefined {
  const m = FENCE_OPEN.exec(line);
  if (!m) return undefined;
  // A backtick fence's info string may not contain backticks (CommonMark).
  if (m[1]![0] === '`' && line.slice(m[0].length).includes('`')) return undefined;
  return m[1];
}

/**
 * Whitespace normalisation that preserves structure: trailing spaces trimmed, blank-line runs
 * collapsed to one paragraph break, leading/trailing blank lines removed. Inside fenced code,
 * lines are kept verbatim (only trailing spaces trimmed) including blank lines and tabs.
 * Outside code, an indented line that follows a blank line or another such line (a markdown
 * indented code block) keeps its inner spacing too.
 */
export function normalizeWhitespace(text: string, options: WhitespaceOptions): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let fence: string | undefined;
  let blankPending = false;
  let inIndentedCode = false;
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (fence !== undefined) {
      out.push(line);
      if (closesFence(line, fence)) fence = undefined;
      continue;
    }
    if (line.trim() === '') {
      blankPending = out.length > 0;
      continue;
    }
    const opening = fenceOpening(line);
    const indented = /^(?: {4}|\t)/.test(line);
    inIndentedCode = options.keepIndent && indented && (blankPending || inIndentedCode || out.length === 0);
    if (blankPending) out.push('');
    blankPending = false;
    if (opening !== undefined) {
      fence = opening;
      out.push(line);
      continue;
    }
    if (inIndentedCode) {
      out.push(line);
      continue;
    }
    let body = options.keepIndent ? line : line.trimStart();
    if (options.collapseInline) {
      const indent = /^[ \t]*/.exec(body)![0];
      body = indent + body.slice(indent.length).replace(/[ \t]{2,}|\t/g, ' ');
    }
    out.push(body);
  }
  // An unclosed fence keeps its trailing blank lines only up to the last non-blank line.
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.join('\n');
}
