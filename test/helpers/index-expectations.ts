import { expect } from 'vitest';
import type { IndexTarget } from './index-target.ts';
import { chunkPointId } from '../../schemas/ids.ts';
import { cleanDocument } from '../../streams/clean/index.ts';
import { chunkDocument } from '../../streams/chunk/index.ts';
import { loadConfig } from '../../wiring/config.ts';

/**
 * The exact-index check of the end-to-end and Kafka suites: the index must hold exactly the chunks
 * of exactly the expected documents, each at one version, with the deterministic point ids — no
 * document missing, none extra, no stale chunk.
 */

const defaults = loadConfig({});

export interface Item { category: string; author: string; content: string; title: string; source: string; externalId: string }

const AUTHORS = ['ada', 'grace', 'linus', 'barbara'];
const CATS = ['article', 'post', 'repository', 'paper'];
const WORDS = 'stream log partition offset consumer broker vector index chunk embed cache replica snapshot cursor lag watermark'.split(' ');

/** Document `i` at revision `rev`; `words` sets its length (default 40–160 words). */
export function makeItem(i: number, rev: number, source: string, words = 40 + (i % 5) * 30): Item {
  const text = Array.from({ length: words }, (_, j) => WORDS[(i * 7 + j * 3 + rev) % WORDS.length]).join(' ');
  return {
    category: CATS[i % CATS.length]!,
    author: AUTHORS[i % AUTHORS.length]!,
    title: `Document ${i} revision ${rev}`,
    content: `# Heading ${i}\n\nmarker${i}r${rev} ${text}.\n\nSecond paragraph about item ${i}: ${text.split(' ').reverse().join(' ')}.`,
    source,
    externalId: `doc-${i}`,
  };
}

export function expectedChunks(id: string, item: Item): string[] {
  const cleaned = cleanDocument(
    { _id: id, category: item.category, author: item.author, content: item.content, title: item.title, url: null, source: item.source, externalId: item.externalId, metadata: null },
    { version: 1, sourceTsMs: 0, nowMs: 0 },
  );
  return chunkDocument(cleaned, { maxTokens: defaults.chunkTokens, overlapTokens: defaults.chunkOverlapTokens }).map((c) => c.text);
}

export async function assertIndexExact(target: IndexTarget, dataDir: string, dimension: number, expected: Map<string, Item>): Promise<void> {
  const byDoc = await target.read(dataDir, dimension);
  const missing = [...expected.keys()].filter((id) => !byDoc.has(id));
  const extra = [...byDoc.keys()].filter((id) => !expected.has(id));
  expect({ missing: missing.length, extra: extra.length, sampleMissing: missing.slice(0, 3), sampleExtra: extra.slice(0, 3) })
    .toEqual({ missing: 0, extra: 0, sampleMissing: [], sampleExtra: [] });
  for (const [id, item] of expected) {
    const points = byDoc.get(id)!.sort((a, b) => a.payload.chunk_index - b.payload.chunk_index);
    const want = expectedChunks(id, item);
    expect(points.map((p) => p.payload.text), `chunks of ${id}`).toEqual(want);
    expect(points.map((p) => p.id), `point ids of ${id}`).toEqual(want.map((_, i) => chunkPointId(id, i)));
    expect(new Set(points.map((p) => p.payload.doc_version)).size, `versions of ${id}`).toBe(1);
  }
}
