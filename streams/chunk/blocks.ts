/**
 * Splits cleaned text into structural blocks: ATX headings, fenced code, indented code, list runs,
 * tables and paragraphs, each tagged with its heading path. One pass over the lines.
 */
import { closesFence, fenceOpening } from '../clean/normalize.ts';

export type BlockKind =
  /** an ATX heading line */
  | 'heading'
  /** running text: split by sentences when too long */
  | 'prose'
  /** a run of list items: split by items, then sentences */
  | 'list'
  /** fenced or indented code: never split unless it alone is over budget, then by lines */
  | 'code'
  /** line-oriented text (tables, code-like paragraphs): split by lines */
  | 'lines';

export interface Block {
  readonly kind: BlockKind;
  readonly text: string;
  /**
   * Heading texts from the outermost section down. For a heading block, the path includes the
   * heading itself. Blocks of one section share the same array instance.
   */
  readonly path: readonly string[];
  /** Fenced code only: the opening and closing fence lines, to re-wrap pieces of a split block. */
  readonly fenceOpen?: string;
  readonly fenceClose?: string;
}

export interface BlockProfile {
  /** Recognise "# Heading" lines (off for posts, where "#" starts hashtags, and for source files). */
  headings: boolean;
  /** Group list items into one list block. */
  lists: boolean;
  /** Treat paragraphs whose lines look like source code as line-oriented blocks. */
  codeLikeParagraphs: boolean;
  /** Treat every paragraph as line-oriented (a source file without markdown). */
  allLines: boolean;
}

const HEADING = /^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$/;
const LIST_ITEM = /^ {0,3}(?:[-*+]|\d{1,9}[.)])[ \t]+\S/;
const INDENTED = /^(?: {4}|\t)/;
const TABLE_ROW = /^ {0,3}\|/;
const CODE_LINE = /[;{}]\s*$|^\s*(?:def|class|import|from|function|const|let|var|return|if|elif|else|for|while|switch|case|try|catch|except|finally|package|public|private|protected|static|fn|pub|impl|use|struct|enum|interface|type|export|module|require|async|await|func|defer|end|begin)\b|^\s*(?:\/\/|\/\*|\*\/|\*(?:\s|$)|#!|#include|#define|@\w+)|^\s*[\w.$[\]]+\s*(?:=|\+=|-=|:=)\s*\S|\)\s*(?:\{|:|=>)?\s*$/;

export function isCodeLine(line: string): boolean {
  return CODE_LINE.test(line);
}

/** At least half of the non-blank lines look like code. */
export function looksLikeCode(lines: readonly string[]): boolean {
  let code = 0;
  let total = 0;
  for (const l of lines) {
    if (l.trim() === '') continue;
    total += 1;
    if (CODE_LINE.test(l)) code += 1;
  }
  return total > 0 && code * 2 >= total;
}

function isBlank(line: string | undefined): boolean {
  return line === undefined || line.trim() === '';
}

export function parseBlocks(text: string, profile: BlockProfile): Block[] {
  const lines = text.split('\n');
  const n = lines.length;
  const blocks: Block[] = [];
  let path: readonly string[] = [];
  const levels: number[] = [];
  let paragraph: string[] = [];

  const flushParagraph = (): void => {
    if (paragraph.length === 0) return;
    const kind: BlockKind = profile.allLines || (profile.codeLikeParagraphs && looksLikeCode(paragraph)) ? 'lines' : 'prose';
    blocks.push({ kind, text: paragraph.join('\n'), path });
    paragraph = [];
  };

  let i = 0;
  while (i < n) {
    const line = lines[i]!;
    if (isBlank(line)) {
      flushParagraph();
      i += 1;
      continue;
    }
    const fence = fenceOpening(line);
    if (fence !== undefined) {
      flushParagraph();
      let j = i + 1;
      while (j < n && !closesFence(lines[j]!, fence)) j += 1;
      const closed = j < n;
      const body = lines.slice(i, closed ? j + 1 : n);
      blocks.push({ kind: 'code', text: body.join('\n'), path, fenceOpen: line, fenceClose: closed ? lines[j]! : fence });
      i = closed ? j + 1 : n;
      continue;
    }
    if (profile.headings) {
      const h = HEADING.exec(line);
      if (h) {
        flushParagraph();
        const level = h[1]!.length;
        const title = h[2]!.trim();
        const keep: string[] = [];
        const keepLevels: number[] = [];
        for (let k = 0; k < levels.length; k++) {
          if (levels[k]! < level) {
            keep.push(path[k]!);
            keepLevels.push(levels[k]!);
          }
        }
        keep.push(title);
        keepLevels.push(level);
        levels.length = 0;
        levels.push(...keepLevels);
        path = keep;
        blocks.push({ kind: 'heading', text: line.trim(), path });
        i += 1;
        continue;
      }
    }
    if (paragraph.length === 0 && INDENTED.test(line) && !profile.allLines) {
      // Indented code: indented lines, with blank lines inside when more indented lines follow.
      let j = i;
      let end = i;
      while (j < n) {
        if (INDENTED.test(lines[j]!)) {
          end = j;
          j += 1;
        } else if (isBlank(lines[j])) {
          j += 1;
        } else break;
      }
      blocks.push({ kind: 'code', text: lines.slice(i, end + 1).join('\n'), path });
      i = end + 1;
      continue;
    }
    if (profile.lists && paragraph.length === 0 && LIST_ITEM.test(line)) {
      let j = i + 1;
      let end = i;
      while (j < n) {
        const l = lines[j]!;
        if (isBlank(l)) {
          // A blank line continues the list only if another item or an indented continuation follows.
          let k = j + 1;
          while (k < n && isBlank(lines[k])) k += 1;
          if (k < n && (LIST_ITEM.test(lines[k]!) || /^ {2,}\S/.test(lines[k]!))) {
            j = k;
            continue;
          }
          break;
        }
        if (fenceOpening(l) !== undefined && !/^ {2,}/.test(l)) break;
        if (profile.headings && HEADING.test(l)) break;
        end = j;
        j += 1;
      }
      blocks.push({ kind: 'list', text: lines.slice(i, end + 1).join('\n'), path });
      i = end + 1;
      continue;
    }
    if (paragraph.length === 0 && TABLE_ROW.test(line)) {
      let j = i;
      while (j < n && TABLE_ROW.test(lines[j]!)) j += 1;
      blocks.push({ kind: 'lines', text: lines.slice(i, j).join('\n'), path });
      i = j;
      continue;
    }
    paragraph.push(line);
    i += 1;
  }
  flushParagraph();
  return blocks;
}

const ABBREVIATION = /(?:^|[\s(])(?:e\.g|i\.e|etc|vs|cf|al|approx|mr|mrs|ms|dr|prof|sr|jr|st|no|nos|fig|figs|vol|pp|inc|ltd|co|corp|dept|est|[A-Z])\.$/i;
const SENTENCE_BREAK = /[.!?…]+["'”’)\]]*\s+|[。！？]+\s*/g;

/**
 * Sentences of a paragraph, trailing spaces removed. A break is a terminator followed by space
 * and a character that is not a lower-case letter, after a word that is not a common abbreviation.
 */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  SENTENCE_BREAK.lastIndex = 0;
  for (let m = SENTENCE_BREAK.exec(text); m !== null; m = SENTENCE_BREAK.exec(text)) {
    const end = m.index + m[0].length;
    if (end >= text.length) break;
    const next = text[end]!;
    if (next.toLowerCase() === next && next.toUpperCase() !== next) continue; // lower-case letter follows
    const terminator = m[0].trimEnd();
    if (terminator.startsWith('.') && terminator.length === 1 && ABBREVIATION.test(text.slice(Math.max(start, m.index - 8), m.index + 1))) continue;
    const sentence = text.slice(start, end).trimEnd();
    if (sentence.length > 0) out.push(sentence);
    start = end;
  }
  const last = text.slice(start).trim();
  if (last.length > 0) out.push(last);
  return out;
}
