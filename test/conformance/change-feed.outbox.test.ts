import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDocumentStore } from '../../adapters/document-store/embedded/embedded-document-store.ts';
import { OutboxChangeFeed } from '../../adapters/change-feed/outbox/outbox-change-feed.ts';
import { SqliteChangeOutbox } from '../../adapters/change-feed/outbox/sqlite-change-outbox.ts';
import { openDatabase } from '../../adapters/sqlite/open-database.ts';
import { CDC_TOPIC, WAREHOUSE_COLLECTION, WAREHOUSE_DB } from '../../schemas/topics.ts';
import { describeChangeFeedConformance } from './change-feed.conformance.ts';

describeChangeFeedConformance('outbox (SQLite store, same transaction as the write)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-feed-'));
  const path = join(dir, 'tributary.db');
  const db = openDatabase({ path, synchronous: 'normal' });
  const outbox = new SqliteChangeOutbox(db);
  const store = new EmbeddedDocumentStore({ db, log: outbox, cdcTopic: CDC_TOPIC, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION });
  const others: Array<ReturnType<typeof openDatabase>> = [];
  return {
    feed: new OutboxChangeFeed(outbox),
    store,
    async other() {
      const db2 = openDatabase({ path, synchronous: 'normal' });
      others.push(db2);
      return new OutboxChangeFeed(new SqliteChangeOutbox(db2));
    },
    async cleanup() {
      for (const d of others) d.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
