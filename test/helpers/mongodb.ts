import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import type { ChangeFeed } from '../../ports/change-feed.ts';
import type { LogRecord } from '../../ports/event-log.ts';
import type { Need } from './ci.ts';

/** MONGODB_URL when it names a server to test against (a replica set: the GitHub workflow runs MongoDB 7 as one). */
export const MONGODB_URL = process.env['MONGODB_URL'] || undefined;

/** What would run the suites that need MongoDB with change streams (null: MONGODB_URL is set). CI is not given one: they skip there too. */
export const MONGODB_NEED = { toRun: MONGODB_URL ? null : 'set MONGODB_URL to a replica set (e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0)', inCi: 'skip' } as const satisfies Need;

/** A database name of its own for one test. */
export function testDatabase(prefix = 'tributary_test'): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export async function dropDatabase(url: string, database: string): Promise<void> {
  const c = new MongoClient(url, { serverSelectionTimeoutMS: 5_000 });
  try {
    await c.db(database).dropDatabase();
  } catch { /* already gone */ } finally {
    await c.close();
  }
}

/** Reads a feed until a read finds nothing more; the entries as log records (offset = position in the read). */
export function feedReader(feed: ChangeFeed): () => Promise<LogRecord[]> {
  const seen: LogRecord[] = [];
  const signal = new AbortController().signal;
  return async () => {
    for (;;) {
      const b = await feed.read(500, 500, signal);
      for (const e of b.entries) seen.push({ topic: e.topic, partition: 0, offset: seen.length, key: e.record.key, value: e.record.value, headers: e.record.headers ?? {}, timestamp: e.record.timestamp ?? Date.now() });
      if (b.entries.length === 0) return [...seen];
    }
  };
}
