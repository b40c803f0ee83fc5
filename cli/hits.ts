import { truncate, type Style } from './format.ts';

/**
 * Search hits and RAG citations as the CLI shows them. The reader accepts hits with their fields
 * at the top level or under `payload` (the index's chunk payload), in `hits`, `results`,
 * `citations` or `sources`.
 */

export interface Hit {
  score: number | undefined;
  docId: string | undefined;
  chunkIndex: number | undefined;
  title: string | undefined;
  text: string | undefined;
  author: string | undefined;
  category: string | undefined;
  url: string | undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function toHit(raw: unknown): Hit {
  const o = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const p = (o['payload'] && typeof o['payload'] === 'object' ? o['payload'] : {}) as Record<string, unknown>;
  const pick = (...keys: string[]): unknown => {
    for (const k of keys) {
      if (o[k] !== undefined && o[k] !== null) return o[k];
      if (p[k] !== undefined && p[k] !== null) return p[k];
    }
    return undefined;
  };
  return {
    score: num(pick('score', 'rrfScore', 'relevance')),
    docId: str(pick('docId', 'doc_id', 'documentId')),
    chunkIndex: num(pick('chunkIndex', 'chunk_index')),
    title: str(pick('title')),
    text: str(pick('text', 'snippet', 'content', 'chunk')),
    author: str(pick('author')),
    category: str(pick('category')),
    url: str(pick('url')),
  };
}

/** The hits in a search response (or an array of hits). */
export function readHits(body: unknown, keys: readonly string[] = ['hits', 'results', 'chunks', 'items']): Hit[] {
  if (Array.isArray(body)) return body.map(toHit);
  if (body && typeof body === 'object') {
    for (const k of keys) {
      const v = (body as Record<string, unknown>)[k];
      if (Array.isArray(v)) return v.map(toHit);
    }
  }
  return [];
}

/**
 * The part of `text` worth showing for `query`: a window of about `max` characters starting a
 * little before the first query word found (case-insensitive), else the beginning.
 */
export function snippet(text: string, query: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const lower = flat.toLowerCase();
  const words = query.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length >= 3);
  const positions = words.map((w) => lower.indexOf(w)).filter((i) => i >= 0);
  const first = positions.length > 0 ? Math.min(...positions) : 0;
  if (first < max / 3) return truncate(flat, max);
  let start = flat.lastIndexOf(' ', first - Math.floor(max / 5));
  start = start < 0 ? 0 : start + 1;
  return `…${truncate(flat.slice(start), max - 1)}`;
}

export function renderHits(hits: Hit[], style: Style, width: number, query = ''): string {
  const lines: string[] = [];
  const textWidth = Math.max(40, width - 6);
  hits.forEach((h, i) => {
    const meta = [h.category, h.author, h.score !== undefined ? h.score.toFixed(4) : undefined].filter(Boolean).join(' · ');
    const title = h.title ?? h.docId ?? '(untitled)';
    lines.push(`${String(i + 1).padStart(3)}  ${style.bold(truncate(title, Math.max(20, textWidth - meta.length - 2)))}  ${style.dim(meta)}`);
    if (h.text) lines.push(`     ${snippet(h.text, query, Math.min(240, textWidth * 2))}`);
    if (h.url) lines.push(`     ${style.cyan(h.url)}`);
    lines.push('');
  });
  return lines.join('\n');
}

/** Numbered citations under an answer: "[1] Title — author · category  url". */
export function renderCitations(hits: Hit[], style: Style): string {
  if (hits.length === 0) return '';
  const lines = [style.bold('Sources')];
  hits.forEach((h, i) => {
    const meta = [h.author, h.category].filter(Boolean).join(' · ');
    lines.push(`  [${i + 1}] ${h.title ?? h.docId ?? '(untitled)'}${meta ? style.dim(` — ${meta}`) : ''}${h.url ? `  ${style.cyan(h.url)}` : ''}`);
  });
  return lines.join('\n') + '\n';
}

/**
 * One line describing the retrieval steps a response reports (self-query, expansion, search,
 * rerank, generation), from `[{name, skipped?, ms?}]` or `{name: {skipped?, ms?} | boolean}`.
 */
export function summarizeSteps(steps: unknown): string | null {
  const parts: string[] = [];
  const describe = (name: string, v: unknown) => {
    if (typeof v === 'boolean') { parts.push(`${name} ${v ? '✓' : '–'}`); return; }
    if (!v || typeof v !== 'object') { parts.push(name); return; }
    const s = v as Record<string, unknown>;
    const skipped = s['skipped'] === true || s['enabled'] === false || s['applied'] === false || s['status'] === 'skipped';
    const ms = num(s['ms']) ?? num(s['durationMs']) ?? num(s['tookMs']);
    const notes: string[] = [];
    if (skipped && str(s['reason'])) notes.push(str(s['reason'])!);
    if (str(s['model'])) notes.push(str(s['model'])!);
    for (const k of ['variants', 'candidates'] as const) {
      const n = num(s[k]);
      if (n !== undefined) notes.push(`${n} ${n === 1 ? k.slice(0, -1) : k}`);
    }
    parts.push(`${name} ${skipped ? '–' : '✓'}${ms !== undefined ? ` ${Math.round(ms)} ms` : ''}${notes.length ? ` (${notes.join(', ')})` : ''}`);
  };
  if (Array.isArray(steps)) {
    for (const s of steps) {
      const name = s && typeof s === 'object' ? str((s as Record<string, unknown>)['name']) ?? str((s as Record<string, unknown>)['step']) : str(s);
      if (name) describe(name, s);
    }
  } else if (steps && typeof steps === 'object') {
    for (const [k, v] of Object.entries(steps)) describe(k, v);
  }
  return parts.length > 0 ? parts.join(' · ') : null;
}
