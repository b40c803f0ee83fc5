import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export interface OpenDatabaseOptions {
  path: string;
  /** full: fsync at every commit (survives power loss); normal: survives process crashes (kill -9). */
  synchronous: 'full' | 'normal';
  allowExtension?: boolean;
  readOnly?: boolean;
}

/** Opens a SQLite database in WAL mode with a busy timeout, so other processes (CLI, tests) can read it. */
export function openDatabase(opts: OpenDatabaseOptions): DatabaseSync {
  if (opts.path !== ':memory:' && !opts.readOnly) mkdirSync(dirname(opts.path), { recursive: true });
  const db = new DatabaseSync(opts.path, { allowExtension: opts.allowExtension ?? false, readOnly: opts.readOnly ?? false });
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  if (!opts.readOnly) {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  }
  db.exec('PRAGMA foreign_keys = ON');
  return db;
}

/** Callbacks waiting for the open transaction of a connection to commit (see `afterCommit`). */
const commitCallbacks = new WeakMap<DatabaseSync, Array<() => void>>();

/** Runs `fn` inside BEGIN IMMEDIATE … COMMIT, rolling back on any error. Nested calls join the outer transaction. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) return fn();
  db.exec('BEGIN IMMEDIATE');
  return commitAfter(db, fn);
}

/** How long a connection waits for another's write lock (PRAGMA busy_timeout, set by `openDatabase`). */
export const BUSY_TIMEOUT_MS = 10_000;

function isBusy(e: unknown): boolean {
  const errcode = (e as { errcode?: number }).errcode;
  return errcode === 5 || errcode === 6; // SQLITE_BUSY, SQLITE_LOCKED
}

/**
 * `transaction` for a thread that must not block (the API's): SQLite's own busy wait sleeps the whole
 * thread while another connection (a pipeline thread) holds the write lock, so BEGIN IMMEDIATE is
 * tried without it, and while the lock is taken this waits on timers (1, 2, 4 … 16 ms) between tries,
 * for up to `timeoutMs`, serving requests meanwhile. Past it, SQLite's busy error is thrown.
 */
export async function writeTransaction<T>(db: DatabaseSync, fn: () => T, timeoutMs = BUSY_TIMEOUT_MS): Promise<T> {
  if (db.isTransaction) return fn();
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    db.exec('PRAGMA busy_timeout = 0');
    let began = false;
    try {
      db.exec('BEGIN IMMEDIATE');
      began = true;
    } catch (e) {
      if (!isBusy(e) || Date.now() > deadline) throw e;
    } finally {
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
    if (began) return commitAfter(db, fn);
    await new Promise((r) => setTimeout(r, Math.min(16, 2 ** attempt)));
  }
}

/** Runs `fn` in the transaction just begun, commits (then runs the `afterCommit` callbacks) or rolls back. */
function commitAfter<T>(db: DatabaseSync, fn: () => T): T {
  let out: T;
  try {
    out = fn();
    db.exec('COMMIT');
  } catch (e) {
    commitCallbacks.delete(db);
    if (db.isTransaction) db.exec('ROLLBACK');
    throw e;
  }
  const after = commitCallbacks.get(db);
  if (after) {
    commitCallbacks.delete(db);
    for (const cb of after) cb();
  }
  return out;
}

/**
 * Runs `cb` once what the connection is writing is committed: right after the COMMIT of the
 * transaction open now (started by `transaction`), never if it rolls back; at once outside one.
 */
export function afterCommit(db: DatabaseSync, cb: () => void): void {
  if (!db.isTransaction) return cb();
  const list = commitCallbacks.get(db);
  if (list) list.push(cb);
  else commitCallbacks.set(db, [cb]);
}
