import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { createMongoDocumentStore } from '../../adapters/document-store/mongodb/mongodb-document-store.ts';
import { describeFerretDb } from '../setup/ferretdb-env.ts';
import { describeDocumentStoreConformance } from './document-store.conformance.ts';

/**
 * The MongoDB document store on a real MongoDB wire-protocol server: FerretDB 1.24 (SQLite backend),
 * started by test/setup/ferretdb-global-setup.ts, through the official driver. FerretDB has no change
 * streams and no multi-document transactions, so here the suite runs the store's own behaviour —
 * raw documents as received, idempotent by source + externalId (unique index), unchanged content
 * not rewritten, get, delete, count, batch order, durability — with `transactions: "off"`, and
 * leaves out what needs those two: the change events (a change stream) and batch atomicity. Both run
 * against MongoDB itself wherever MONGODB_URL reaches a replica set (document-store.mongodb.test.ts;
 * the GitHub workflow runs MongoDB 7 as a replica set).
 */

describeFerretDb('on FerretDB', (url) => {
  describeDocumentStoreConformance('mongodb adapter on FerretDB (no change streams, no transactions)', async () => {
    const database = `tributary_store_${randomBytes(4).toString('hex')}`;
    const open = async () => {
      const store = createMongoDocumentStore({ url, database, collection: 'documents', transactions: 'off', timeoutMs: 5_000 });
      await store.init();
      return store;
    };
    const stores = [await open()];
    return {
      store: stores[0]!,
      atomicBatches: false,
      async reopen() { const s = await open(); stores.push(s); return s; },
      async cleanup() {
        for (const s of stores) await s.close();
        const c = new MongoClient(url);
        await c.db(database).dropDatabase().catch(() => undefined);
        await c.close();
      },
    };
  });
});
