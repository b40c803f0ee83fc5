import { join, resolve } from 'node:path';
import type { TraceStore } from '../ports/trace-store.ts';
import { openDatabase } from '../adapters/sqlite/open-database.ts';
import { SqliteTraceStore } from '../adapters/trace-store/sqlite/sqlite-trace-store.ts';
import type { Config } from './config.ts';
import { serversHoldEverything } from './config-rules.ts';

/**
 * The trace view of this API process, SQLite. The topics (tributary.rag.traces, tributary.feedback)
 * are the record and the view is rebuilt from them, so it needs no shared server and every replica
 * serves every trace: a file in the data directory (<data dir>/traces.db), or — where the process
 * writes no file at all (Kafka, MongoDB and Qdrant) — in memory, read again from the topics at start.
 */
export function openTraceStore(config: Config): TraceStore {
  const path = serversHoldEverything(config) ? ':memory:' : join(resolve(config.dataDir), 'traces.db');
  return new SqliteTraceStore({ db: openDatabase({ path, synchronous: 'normal' }) });
}
