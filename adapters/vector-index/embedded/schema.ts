import type { ChunkPayload } from '../../../ports/vector-index.ts';

/**
 * Tables of the embedded vector index (one SQLite file, WAL):
 *
 * - `chunks`: one narrow row per chunk point: its key `pk` (every other table uses it), its UUID
 *   `id`, and the fields filters and the version contract read (document, version, index, category,
 *   author). Kept narrow so that filtering keyword matches by joining it stays in the page cache.
 * - `chunk_payloads`: the rest of the payload, text included.
 * - `chunk_vectors`: the float32 vector of each chunk (little-endian bytes). The source of truth for
 *   the dense side: the in-memory int8 scan is rebuilt from it, and its exact cosine rescores the
 *   scan's survivors.
 * - `chunk_fts`: FTS5 over chunk text for BM25 (porter stemming over unicode61 with diacritics
 *   removed). Contentless with delete support: the text lives once, in `chunks`.
 * - `doc_versions`: last applied version of each document and whether it is deleted; the fence
 *   that makes versioned replace and delete idempotent and order-insensitive.
 * - `vector_changes`: a bounded log of touched chunk keys, so a reader in another connection or
 *   process patches its in-memory scan instead of rebuilding it after each write.
 * - `index_stats`: the chunk count, kept in the write transactions (BM25 term pruning reads it per query).
 * - `index_meta`: format version and vector dimension, checked at start-up.
 */

export const FORMAT_VERSION = '1';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS index_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS chunks (
  pk INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  doc_id TEXT NOT NULL,
  doc_version INTEGER NOT NULL,
  chunk_index INTEGER NOT NULL,
  category TEXT NOT NULL,
  author TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id, chunk_index);
CREATE INDEX IF NOT EXISTS chunks_by_category ON chunks (category);
CREATE INDEX IF NOT EXISTS chunks_by_author ON chunks (author);

CREATE TABLE IF NOT EXISTS chunk_payloads (
  pk INTEGER PRIMARY KEY,
  content_hash TEXT NOT NULL,
  source_ts INTEGER NOT NULL,
  embed_model TEXT NOT NULL,
  title TEXT,
  url TEXT,
  text TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS chunk_vectors (
  pk INTEGER PRIMARY KEY,
  vector BLOB NOT NULL
);

CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5 (
  text,
  content = '',
  contentless_delete = 1,
  tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE IF NOT EXISTS doc_versions (
  doc_id TEXT PRIMARY KEY,
  version INTEGER,
  deleted INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS vector_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  pk INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS index_stats (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  chunks INTEGER NOT NULL
);
INSERT OR IGNORE INTO index_stats (id, chunks) VALUES (1, 0);
`;

/** Columns of a full chunk, from `chunks c JOIN chunk_payloads p ON p.pk = c.pk`. */
export const CHUNK_COLUMNS = 'c.pk, c.id, c.doc_id, c.doc_version, c.chunk_index, p.content_hash, c.category, c.author, p.source_ts, p.embed_model, p.title, p.url, p.text';
export const CHUNK_FROM = 'chunks c JOIN chunk_payloads p ON p.pk = c.pk';

export interface ChunkRow {
  pk: number;
  id: string;
  doc_id: string;
  doc_version: number;
  chunk_index: number;
  content_hash: string;
  category: string;
  author: string;
  source_ts: number;
  embed_model: string;
  title: string | null;
  url: string | null;
  text: string;
}

/** A full chunk row → the port's payload. */
export function toPayload(r: ChunkRow): ChunkPayload {
  return {
    doc_id: r.doc_id,
    doc_version: r.doc_version,
    chunk_index: r.chunk_index,
    content_hash: r.content_hash,
    category: r.category,
    author: r.author,
    source_ts: r.source_ts,
    embed_model: r.embed_model,
    title: r.title,
    url: r.url,
    text: r.text,
  };
}
