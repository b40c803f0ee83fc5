import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { EmbeddedEventLog } from '../../adapters/event-log/embedded/embedded-event-log.ts';
import { EmbeddedDocumentStore } from '../../adapters/document-store/embedded/embedded-document-store.ts';
import { openDatabase } from '../../adapters/sqlite/open-database.ts';
import { CDC_TOPIC, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../../schemas/topics.ts';
import { cdcReader, describeDocumentStoreConformance } from './document-store.conformance.ts';

describeDocumentStoreConformance('embedded (SQLite, transactional change feed)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-store-'));
  const dbs: DatabaseSync[] = [];
  const open = () => {
    const db = openDatabase({ path: join(dir, 'tributary.db'), synchronous: 'normal' });
    dbs.push(db);
    const log = new EmbeddedEventLog({ db, maxRecordBytes: 1024 * 1024 });
    log.ensureTopicsSync(topicSpecs(3));
    return { log, store: new EmbeddedDocumentStore({ db, log, cdcTopic: CDC_TOPIC, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION }) };
  };
  const { log, store } = open();
  return {
    store,
    changes: cdcReader(log, CDC_TOPIC),
    reopen: async () => open().store,
    cleanup: async () => {
      for (const d of dbs) d.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
