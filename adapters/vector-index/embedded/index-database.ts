import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { transaction } from '../../sqlite/open-database.ts';
import { rejected } from './index-errors.ts';
import { CHUNK_COLUMNS, CHUNK_FROM, FORMAT_VERSION, SCHEMA } from './schema.ts';

/** Page size of a new index file: 8 KiB pages hold 7 vectors of 256 floats (4 KiB pages waste a quarter). */
const PAGE_SIZE = 8192;

/**
 * Opens (creating it with its directory) the index file, creates the tables (schema.ts) and checks
 * its format and vector dimension, recording both in a new file. Like adapters/sqlite/open-database.ts
 * (WAL, busy timeout so other processes can read concurrently), plus a page size, which must be set
 * before the file switches to WAL.
 */
export function openIndexDatabase(path: string, opts: { synchronous: 'full' | 'normal'; cacheMiB: number; dimension: number }): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA busy_timeout = 10000');
    db.exec(`PRAGMA page_size = ${PAGE_SIZE}`);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec(`PRAGMA cache_size = ${-Math.round(opts.cacheMiB * 1024)}`);
    transaction(db, () => {
      db.exec(SCHEMA);
      const meta = new Map((db.prepare('SELECT key, value FROM index_meta').all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]));
      const format = meta.get('format');
      if (format !== undefined && format !== FORMAT_VERSION) {
        throw rejected(`${path} has format ${format}, this build reads format ${FORMAT_VERSION}; rebuild the index (delete the file and replay the cleaned topic)`);
      }
      const dim = meta.get('dimension');
      if (dim !== undefined && Number(dim) !== opts.dimension) {
        throw rejected(`${path} holds ${dim}-dimension vectors but the embedder produces ${opts.dimension}; use another data directory or delete the index file to rebuild it`);
      }
      db.prepare('INSERT OR IGNORE INTO index_meta (key, value) VALUES (?, ?), (?, ?)').run('format', FORMAT_VERSION, 'dimension', String(opts.dimension));
    });
    return db;
  } catch (e) {
    try { db.close(); } catch { /* already failing */ }
    throw e;
  }
}

/** The statements of every read and write path, prepared once per connection. */
export interface Statements {
  getVersion: StatementSync;
  putVersion: StatementSync;
  findChunk: StatementSync;
  insertChunk: StatementSync;
  updateChunk: StatementSync;
  putPayload: StatementSync;
  deletePayload: StatementSync;
  putVector: StatementSync;
  deleteVector: StatementSync;
  insertFts: StatementSync;
  deleteFts: StatementSync;
  deleteOthers: StatementSync;
  deleteAll: StatementSync;
  logChange: StatementSync;
  maxSeq: StatementSync;
  minSeq: StatementSync;
  pruneLog: StatementSync;
  changedSince: StatementSync;
  bumpCount: StatementSync;
  chunkCount: StatementSync;
  getVector: StatementSync;
  getChunk: StatementSync;
  mirrorRow: StatementSync;
  mirrorAll: StatementSync;
  dataVersion: StatementSync;
  dfProbe: StatementSync;
}

export function prepareStatements(db: DatabaseSync): Statements {
  return {
    getVersion: db.prepare('SELECT version, deleted FROM doc_versions WHERE doc_id = ?'),
    putVersion: db.prepare(`INSERT INTO doc_versions (doc_id, version, deleted, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (doc_id) DO UPDATE SET version = excluded.version, deleted = excluded.deleted, updated_at = excluded.updated_at`),
    findChunk: db.prepare('SELECT c.pk, p.text FROM chunks c LEFT JOIN chunk_payloads p ON p.pk = c.pk WHERE c.id = ?'),
    // the new pk from run()'s lastInsertRowid: a RETURNING clause read with get() costs ~40 µs a row here, run() ~6 µs
    insertChunk: db.prepare('INSERT INTO chunks (id, doc_id, doc_version, chunk_index, category, author) VALUES (?, ?, ?, ?, ?, ?)'),
    updateChunk: db.prepare('UPDATE chunks SET doc_id = ?, doc_version = ?, chunk_index = ?, category = ?, author = ? WHERE pk = ?'),
    putPayload: db.prepare(`INSERT OR REPLACE INTO chunk_payloads (pk, content_hash, source_ts, embed_model, title, url, text) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    deletePayload: db.prepare('DELETE FROM chunk_payloads WHERE pk = ?'),
    putVector: db.prepare('INSERT OR REPLACE INTO chunk_vectors (pk, vector) VALUES (?, ?)'),
    deleteVector: db.prepare('DELETE FROM chunk_vectors WHERE pk = ?'),
    insertFts: db.prepare('INSERT INTO chunk_fts (rowid, text) VALUES (?, ?)'),
    deleteFts: db.prepare('DELETE FROM chunk_fts WHERE rowid = ?'),
    deleteOthers: db.prepare('DELETE FROM chunks WHERE doc_id = ? AND id NOT IN (SELECT value FROM json_each(?)) RETURNING pk'),
    deleteAll: db.prepare('DELETE FROM chunks WHERE doc_id = ? RETURNING pk'),
    logChange: db.prepare('INSERT INTO vector_changes (pk) VALUES (?)'),
    maxSeq: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'vector_changes'"),
    minSeq: db.prepare('SELECT min(seq) AS seq FROM vector_changes'),
    pruneLog: db.prepare('DELETE FROM vector_changes WHERE seq <= ?'),
    changedSince: db.prepare('SELECT DISTINCT pk FROM vector_changes WHERE seq > ?'),
    bumpCount: db.prepare('UPDATE index_stats SET chunks = chunks + ? WHERE id = 1'),
    chunkCount: db.prepare('SELECT chunks FROM index_stats WHERE id = 1'),
    getVector: db.prepare('SELECT vector FROM chunk_vectors WHERE pk = ?'),
    getChunk: db.prepare(`SELECT ${CHUNK_COLUMNS} FROM ${CHUNK_FROM} WHERE c.pk = ?`),
    mirrorRow: db.prepare('SELECT c.doc_id, c.category, c.author, v.vector FROM chunks c JOIN chunk_vectors v ON v.pk = c.pk WHERE c.pk = ?'),
    mirrorAll: db.prepare('SELECT c.pk, c.doc_id, c.category, c.author, v.vector FROM chunks c JOIN chunk_vectors v ON v.pk = c.pk'),
    dataVersion: db.prepare('PRAGMA data_version'),
    dfProbe: db.prepare('SELECT count(*) AS n FROM (SELECT 1 FROM chunk_fts WHERE chunk_fts MATCH ? LIMIT ?)'),
  };
}

/** Highest `vector_changes.seq` written so far (0 for a new file). */
export function currentSeq(s: Statements): number {
  return (s.maxSeq.get() as { seq: number } | undefined)?.seq ?? 0;
}
