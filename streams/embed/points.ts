import { createHash } from 'node:crypto';
import type { CleanedDocument } from '../../schemas/cleaned.ts';
import { chunkPointId } from '../../schemas/ids.ts';
import type { ChunkPoint } from '../../ports/vector-index.ts';

export interface ChunkText {
  index: number;
  text: string;
}

/**
 * A chunk's content hash (sha256 of its text, hex): stored in every point's payload and, with the
 * model id, the embedding-cache key — unchanged chunks are never re-embedded.
 */
export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * A chunk in its context, as it is embedded and keyword-indexed: the document's title, then the
 * chunk (which already starts with its heading path when it begins inside a section). A chunk that
 * says "it" or "this setting" is then still found by what its document is about; what search
 * returns stays the chunk itself.
 */
export function contextualText(doc: Pick<CleanedDocument, 'title'>, chunkText: string): string {
  const title = doc.title?.trim();
  return title ? `${title}\n\n${chunkText}` : chunkText;
}

/**
 * Builds the index points of one document version from its chunks and their vectors (`hashes`: the
 * content hashes of what was embedded — the contextual text — when already known).
 */
export function buildPoints(doc: CleanedDocument, chunks: ChunkText[], vectors: Float32Array[], embedModel: string, hashes?: string[]): ChunkPoint[] {
  if (chunks.length !== vectors.length) throw new Error(`buildPoints: ${chunks.length} chunks but ${vectors.length} vectors`);
  return chunks.map((c, i) => {
    const indexText = contextualText(doc, c.text);
    return {
    id: chunkPointId(doc.docId, c.index),
    vector: vectors[i]!,
    ...(indexText !== c.text ? { indexText } : {}),
    payload: {
      doc_id: doc.docId,
      doc_version: doc.version,
      chunk_index: c.index,
      content_hash: hashes?.[i] ?? contentHash(indexText),
      category: doc.category,
      author: doc.author,
      source_ts: doc.sourceTsMs,
      embed_model: embedModel,
      title: doc.title,
      url: doc.url,
      text: c.text,
    },
    };
  });
}

/** Keeps only the newest event per document (by version; later offset wins a tie). */
export function latestPerDocument<T extends { docId: string; version: number | null; offset: number }>(events: T[]): T[] {
  const best = new Map<string, T>();
  for (const e of events) {
    const cur = best.get(e.docId);
    if (!cur || (e.version ?? -1) > (cur.version ?? -1) || ((e.version ?? -1) === (cur.version ?? -1) && e.offset > cur.offset)) best.set(e.docId, e);
  }
  return [...best.values()];
}
