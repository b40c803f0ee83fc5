/**
 * Packs blocks into chunks of at most `maxTokens` tokens.
 *
 * - Every block is tokenised once. A block that fits in an empty chunk is never split; one that
 *   does not is split into units (prose by sentences, lists by items, code and tables by lines,
 *   anything still too long by tokens). Split fenced code is re-wrapped in its fences.
 * - Units are packed greedily; a chunk never ends on a heading (the heading moves on).
 * - A chunk that starts inside a section is prefixed with its heading path ("Guide > Install").
 * - The next chunk starts with up to `overlapTokens` of the previous chunk's trailing sentences
 *   (or whole lines, for code and tables), within a section, never from fenced code.
 * - A chunk's token count is exact: unit counts plus the exact effect of each join (joinDelta);
 *   a join it cannot account for makes the chunk be counted in full.
 */
import { type Block, type BlockKind, splitSentences } from './blocks.ts';
import { countTokens, countWithin, joinDelta, splitByTokens, tailWithinTokens, type Counted } from './tokens.ts';

export interface Chunk {
  /** Position in the document, from 0; with the document id it determines the chunk's point id. */
  index: number;
  text: string;
  /** Token count of `text` (cl100k_base); never more than maxTokens. */
  tokens: number;
}

export interface ChunkOptions {
  maxTokens: number;
  overlapTokens: number;
}

interface Piece {
  readonly text: string;
  readonly tokens: number;
}

interface Unit extends Piece {
  readonly kind: BlockKind;
  readonly path: readonly string[];
  /** Placed before this unit when it follows another one in the same chunk. */
  readonly joiner: string;
  /** A piece of a split block after its first piece. */
  readonly continues: boolean;
  /** Fenced code (or a piece of it): never a source of overlap. */
  readonly fenced: boolean;
}

const BLOCK_JOINER = '\n\n';
const HEADING_SEPARATOR = ' > ';
const NO_PREFIX: Piece = { text: '', tokens: 0 };
/** Charged for a join whose exact effect is unknown; the chunk is then counted in full when closed. */
const UNKNOWN_JOIN_COST = 2;

function trimBlankLines(text: string): string {
  return text.replace(/^(?:[ \t]*\n)+/, '').trimEnd();
}

/** List items: a line with a list marker starts an item; other lines continue it. */
function splitListItems(text: string): string[] {
  const items: string[] = [];
  for (const line of text.split('\n')) {
    if (items.length === 0 || /^ {0,3}(?:[-*+]|\d{1,9}[.)])[ \t]/.test(line)) items.push(line);
    else items[items.length - 1] += `\n${line}`;
  }
  return items;
}

/** Text that must fit `budget`: whole if it does, else by sentences (if asked), then by tokens. */
function fitPieces(text: string, budget: number, bySentences: boolean): Counted[] {
  const tokens = countWithin(text, budget);
  if (tokens !== undefined) return [{ text, tokens }];
  if (bySentences) {
    const sentences = splitSentences(text);
    if (sentences.length > 1) return sentences.flatMap((s) => fitPieces(s, budget, false));
  }
  return splitByTokens(text, budget);
}

/**
 * Groups lines into pieces of at most `budget` tokens, blank lines kept inside a piece and
 * dropped at its edges. Counts are exact: each line is counted once and joins are accounted for
 * with joinDelta (a piece with a join it cannot account for is recounted). An over-long line is
 * cut by tokens.
 */
function packLines(lines: readonly string[], budget: number): Counted[] {
  const pieces: Counted[] = [];
  let parts: string[] = [];
  let tokens = 0;
  let exact = true;
  let last = '';
  let blanks = 0;
  const flush = (): void => {
    if (parts.length > 0) {
      const text = parts.join('\n');
      pieces.push({ text, tokens: exact ? tokens : countTokens(text) });
    }
    parts = [];
    tokens = 0;
    exact = true;
    last = '';
    blanks = 0;
  };
  for (const line of lines) {
    if (line.trim() === '') {
      if (parts.length > 0) blanks += 1;
      continue;
    }
    const lineTokens = countWithin(line, budget);
    if (lineTokens === undefined) {
      flush();
      pieces.push(...splitByTokens(line, budget));
      continue;
    }
    if (parts.length === 0) {
      parts.push(line);
      tokens = lineTokens;
      last = line;
      continue;
    }
    const joiner = '\n'.repeat(blanks + 1);
    const delta = joinDelta(last, joiner, line);
    if (tokens + lineTokens + (delta ?? UNKNOWN_JOIN_COST) > budget) {
      flush();
      parts.push(line);
      tokens = lineTokens;
      last = line;
      continue;
    }
    if (delta === undefined) exact = false;
    for (let k = 0; k < blanks; k++) parts.push('');
    parts.push(line);
    tokens += lineTokens + (delta ?? UNKNOWN_JOIN_COST);
    last = line;
    blanks = 0;
  }
  flush();
  return pieces;
}

class Packer {
  private readonly max: number;
  private readonly overlap: number;
  private readonly prefixes = new Map<readonly string[], Piece>();
  private readonly chunks: Chunk[] = [];

  // the chunk being built
  private prefix: Piece = NO_PREFIX;
  private lead: (Piece & { joiner: string }) | undefined;
  private units: Unit[] = [];
  private tokens = 0;
  /** Every join in the current chunk was accounted for exactly. */
  private exact = true;
  /** (tokens, exact) before each unit was added, so a unit can be taken back out exactly. */
  private history: Array<{ tokens: number; exact: boolean; lastText: string }> = [];
  private lastText = '';
  /** Units of the last emitted chunk (overlap source). */
  private previous: Unit[] = [];

  constructor(options: ChunkOptions) {
    this.max = Math.max(1, Math.floor(options.maxTokens));
    this.overlap = Math.max(0, Math.min(Math.floor(options.overlapTokens), this.max - 1));
  }

  /** Heading-path prefix of a section, shortened (or dropped) when over a quarter of the budget. */
  private prefixFor(path: readonly string[]): Piece {
    const cached = this.prefixes.get(path);
    if (cached) return cached;
    let prefix = NO_PREFIX;
    if (path.length > 0) {
      const cap = Math.floor(this.max / 4);
      const full = path.join(HEADING_SEPARATOR);
      const fullTokens = countTokens(full);
      if (fullTokens <= cap) prefix = { text: full, tokens: fullTokens };
      else {
        const last = path[path.length - 1]!;
        const lastTokens = countTokens(last);
        if (lastTokens <= cap) prefix = { text: last, tokens: lastTokens };
      }
    }
    this.prefixes.set(path, prefix);
    return prefix;
  }

  /** The prefix of a chunk starting with `first`: its section path, minus a heading it starts with. */
  private chunkPrefix(first: Unit): Piece {
    if (first.kind === 'heading' && !first.continues) {
      return first.path.length > 1 ? this.prefixFor(first.path.slice(0, -1)) : NO_PREFIX;
    }
    return this.prefixFor(first.path);
  }

  /** Splits a block into units that each fit in a chunk that starts with them (prefix included). */
  private unitsOf(block: Block): Unit[] {
    const text = trimBlankLines(block.text);
    if (text === '') return [];
    const prefix = this.prefixFor(block.path);
    const budget = Math.max(1, this.max - prefix.tokens - (prefix.tokens > 0 ? 2 : 0));
    const fenced = block.fenceOpen !== undefined;
    // Code that fits a chunk on its own stays whole, even if that chunk must then drop its prefix.
    const tokens = countWithin(text, block.kind === 'code' ? this.max : budget);
    if (tokens !== undefined) return [{ text, tokens, kind: block.kind, path: block.path, joiner: BLOCK_JOINER, continues: false, fenced }];

    let pieces: Counted[];
    let joiner = '\n';
    switch (block.kind) {
      case 'prose':
        joiner = ' ';
        pieces = splitSentences(text).flatMap((s) => fitPieces(s, budget, false));
        break;
      case 'list':
        pieces = splitListItems(text).flatMap((item) => fitPieces(item, budget, true));
        break;
      case 'code':
        if (fenced) return this.fencedUnits(block, text, budget);
        pieces = packLines(text.split('\n'), budget);
        break;
      case 'lines':
        pieces = packLines(text.split('\n'), budget);
        break;
      case 'heading':
        joiner = ' ';
        pieces = splitByTokens(text, budget);
        break;
    }
    return pieces.map((p, i) => ({
      text: p.text,
      tokens: p.tokens,
      kind: block.kind,
      path: block.path,
      joiner: i === 0 ? BLOCK_JOINER : joiner,
      continues: i > 0,
      fenced: false,
    }));
  }

  /** A fenced block over budget: groups of lines, each re-wrapped in the block's fences. */
  private fencedUnits(block: Block, text: string, budget: number): Unit[] {
    const open = block.fenceOpen!;
    const close = block.fenceClose!;
    const lines = text.split('\n');
    const hasClose = lines.length > 1 && lines[lines.length - 1]!.trim() === close.trim();
    const body = lines.slice(1, hasClose ? -1 : undefined);
    const bodyBudget = Math.max(1, budget - countTokens(`${open}\n\n${close}`));
    return packLines(body, bodyBudget).map((piece, i) => {
      const wrapped = `${open}\n${piece.text}\n${close}`;
      return { text: wrapped, tokens: countTokens(wrapped), kind: 'code' as const, path: block.path, joiner: BLOCK_JOINER, continues: i > 0, fenced: true };
    });
  }

  /**
   * Trailing context of the previous chunk, at most `budget` tokens: whole sentences (or lines)
   * taken backwards across its units, else the tail of its last sentence cut at a word boundary.
   */
  private overlapFrom(units: readonly Unit[], budget: number): Piece | undefined {
    if (budget <= 0 || units.length === 0) return undefined;
    let acc = '';
    let accTokens = 0;
    let laterJoiner = '';
    let lastSegment: string | undefined;
    outer: for (let u = units.length - 1; u >= 0; u--) {
      const unit = units[u]!;
      if (unit.fenced || unit.kind === 'heading') break;
      const segments = unit.kind === 'prose' ? splitSentences(unit.text) : unit.text.split('\n');
      const segJoiner = unit.kind === 'prose' ? ' ' : '\n';
      for (let s = segments.length - 1; s >= 0; s--) {
        const seg = segments[s]!.trim();
        if (seg === '') continue;
        lastSegment ??= seg;
        const joiner = acc === '' ? '' : s === segments.length - 1 ? laterJoiner : segJoiner;
        const segTokens = countWithin(seg, budget - accTokens);
        const cost = segTokens === undefined ? Infinity : segTokens + (joiner === '' ? 0 : 1);
        if (accTokens + cost > budget) break outer;
        acc = seg + joiner + acc;
        accTokens += cost;
      }
      laterJoiner = unit.joiner;
    }
    // With no whole sentence that fits, prose carries the tail of its last sentence; code and
    // line-oriented text carry whole lines or nothing.
    const lastUnit = units[units.length - 1]!;
    const tailable = lastUnit.kind === 'prose' || lastUnit.kind === 'list';
    const text = acc !== '' ? acc : lastSegment !== undefined && tailable ? tailWithinTokens(lastSegment, budget) : '';
    if (text === '') return undefined;
    const tokens = countTokens(text);
    return tokens <= budget ? { text, tokens } : undefined;
  }

  /** Tokens that `next` adds after `prevText` with `joiner` (an estimate if the join is not understood). */
  private costAfter(prevText: string, joiner: string, next: Piece): number {
    if (prevText === '') return next.tokens;
    return next.tokens + (joinDelta(prevText, joiner, next.text) ?? UNKNOWN_JOIN_COST);
  }

  /** Tokens added by appending `next` to the current chunk; marks the chunk inexact for an unknown join. */
  private appendCost(joiner: string, next: Piece): number {
    if (this.lastText === '') return next.tokens;
    const delta = joinDelta(this.lastText, joiner, next.text);
    if (delta === undefined) {
      this.exact = false;
      return next.tokens + UNKNOWN_JOIN_COST;
    }
    return next.tokens + delta;
  }

  private start(unit: Unit): void {
    this.units = [];
    this.lead = undefined;
    this.tokens = 0;
    this.exact = true;
    this.lastText = '';
    this.prefix = this.chunkPrefix(unit);
    if (this.prefix.tokens > 0) {
      this.tokens = this.prefix.tokens;
      this.lastText = this.prefix.text;
    }
    // Overlap stays within a section: a chunk that opens a new section starts clean.
    const last = this.previous[this.previous.length - 1];
    const opensSection = unit.kind === 'heading' && !unit.continues;
    if (this.overlap > 0 && last !== undefined && last.path === unit.path && !opensSection) {
      const room = this.max - this.tokens - unit.tokens - 4;
      const budget = Math.min(this.overlap, room);
      if (budget >= Math.min(this.overlap, 4)) {
        const o = this.overlapFrom(this.previous, budget);
        if (o) {
          const cost = this.costAfter(this.lastText, BLOCK_JOINER, o);
          const joiner = unit.continues && unit.joiner !== '' ? unit.joiner : BLOCK_JOINER;
          const after = this.tokens + cost;
          const withUnit = after + this.costAfter(o.text, joiner, unit);
          if (withUnit <= this.max) {
            this.tokens += this.appendCost(BLOCK_JOINER, o);
            this.lastText = o.text;
            this.lead = { ...o, joiner };
          }
        }
      }
    }
    const joiner = this.lead?.joiner ?? BLOCK_JOINER;
    this.history = [{ tokens: this.tokens, exact: this.exact, lastText: this.lastText }];
    this.tokens += this.appendCost(joiner, unit);
    this.lastText = unit.text;
    this.units.push(unit);
  }

  private tryAppend(unit: Unit): boolean {
    const cost = this.costAfter(this.lastText, unit.joiner, unit);
    if (this.tokens + cost > this.max) return false;
    this.history.push({ tokens: this.tokens, exact: this.exact, lastText: this.lastText });
    this.tokens += this.appendCost(unit.joiner, unit);
    this.lastText = unit.text;
    this.units.push(unit);
    return true;
  }

  private render(): string {
    let text = '';
    if (this.prefix.text !== '') text = this.prefix.text + BLOCK_JOINER;
    if (this.lead) text += this.lead.text + this.lead.joiner;
    for (let k = 0; k < this.units.length; k++) text += (k === 0 ? '' : this.units[k]!.joiner) + this.units[k]!.text;
    return text;
  }

  /** Emits the current chunk; returns units to process again (a trailing heading, or an overflow). */
  private close(): Unit[] {
    let back: Unit[] = [];
    // never end a chunk on a heading when something else is in it
    while (this.units.length > 1 && this.units[this.units.length - 1]!.kind === 'heading') {
      back.unshift(this.units.pop()!);
      const before = this.history.pop()!;
      this.tokens = before.tokens;
      this.exact = before.exact;
      this.lastText = before.lastText;
    }
    let recount = !this.exact;
    for (;;) {
      const text = this.render();
      const tokens = recount ? countTokens(text) : this.tokens;
      if (tokens <= this.max) {
        this.chunks.push({ index: this.chunks.length, text, tokens });
        this.previous = this.units;
        this.units = [];
        return back;
      }
      recount = true;
      if (this.lead) {
        this.lead = undefined;
        continue;
      }
      if (this.units.length > 1) {
        back = [this.units.pop()!, ...back];
        continue;
      }
      if (this.prefix.text !== '') {
        this.prefix = NO_PREFIX;
        continue;
      }
      // A single unit over budget on its own (only when maxTokens is below what one
      // pre-tokenizer piece needs): cut it by characters, or emit it if it cannot be cut.
      const only = this.units[0]!;
      const parts = splitByTokens(only.text, Math.max(1, this.max - (tokens - this.max) - 2)).map((p) => p.text);
      const half = Math.ceil(only.text.length / 2);
      const cut = parts.length > 1 ? parts : [only.text.slice(0, half), only.text.slice(half)].filter((t) => t.trim() !== '');
      if (cut.length < 2 || only.text.length <= 2) {
        this.chunks.push({ index: this.chunks.length, text, tokens });
        this.previous = this.units;
        this.units = [];
        return back;
      }
      const pieces = cut.map((t, i) => ({ ...only, text: t, tokens: countTokens(t), continues: only.continues || i > 0, joiner: i === 0 ? only.joiner : '\n', fenced: false }));
      this.units = [pieces[0]!];
      back = [...pieces.slice(1), ...back];
    }
  }

  run(blocks: readonly Block[]): Chunk[] {
    const queue: Unit[] = [];
    for (const block of blocks) queue.push(...this.unitsOf(block));
    let qi = 0;
    for (;;) {
      if (qi >= queue.length) {
        if (this.units.length === 0) break;
        queue.push(...this.close());
        continue;
      }
      const unit = queue[qi]!;
      qi += 1;
      if (this.units.length === 0) {
        this.start(unit);
        continue;
      }
      if (this.tryAppend(unit)) continue;
      if (this.units.every((u) => u.kind === 'heading' && !u.continues)) {
        // Heading(s) with no room for their content: the next chunk's prefix names them instead.
        this.start(unit);
        continue;
      }
      const back = this.close();
      // Units handed back go before this one, in order.
      qi -= 1;
      if (back.length > 0) queue.splice(qi, 0, ...back);
    }
    return this.chunks;
  }
}

export function packBlocks(blocks: readonly Block[], options: ChunkOptions): Chunk[] {
  return new Packer(options).run(blocks);
}
