import type { ChunkPayload } from '../../../ports/vector-index.ts';

function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : fallback;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

/** A point's payload as the port's ChunkPayload (missing fields read as empty, never undefined). */
export function toPayload(p: Record<string, unknown> | null | undefined): ChunkPayload {
  const x = p ?? {};
  return {
    doc_id: str(x['doc_id']),
    doc_version: num(x['doc_version']),
    chunk_index: num(x['chunk_index']),
    content_hash: str(x['content_hash']),
    category: str(x['category']),
    author: str(x['author']),
    source_ts: num(x['source_ts']),
    embed_model: str(x['embed_model']),
    title: typeof x['title'] === 'string' ? x['title'] : null,
    url: typeof x['url'] === 'string' ? x['url'] : null,
    text: str(x['text']),
  };
}
