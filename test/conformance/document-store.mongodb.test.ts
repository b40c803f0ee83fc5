import { createMongoDocumentStore } from '../../adapters/document-store/mongodb/mongodb-document-store.ts';
import { MongoChangeFeed } from '../../adapters/change-feed/mongodb/mongodb-change-feed.ts';
import { CDC_TOPIC, Topics } from '../../schemas/topics.ts';
import { describeWith } from '../helpers/ci.ts';
import { dropDatabase, feedReader, MONGODB_NEED, MONGODB_URL, testDatabase } from '../helpers/mongodb.ts';
import { describeDocumentStoreConformance } from './document-store.conformance.ts';

/**
 * The MongoDB document store on MongoDB itself (MONGODB_URL, a replica set): the whole suite, with
 * the change events read from the collection's change stream (the relay's feed) and batches as
 * transactions. No MongoDB with change streams runs on the development machine; the GitHub
 * workflow runs this against MongoDB 7 as a replica set. (FerretDB runs the store part here:
 * document-store.ferretdb.test.ts.)
 */

describeWith(MONGODB_NEED, 'on MongoDB (MONGODB_URL, a replica set)', () => {
  const url = MONGODB_URL ?? '';
  describeDocumentStoreConformance('mongodb (replica set, change stream)', async () => {
    const database = testDatabase('tributary_store');
    const store = createMongoDocumentStore({ url, database, collection: 'documents', transactions: 'required' });
    await store.init();
    const feed = new MongoChangeFeed({ url, database, collection: 'documents', cdcTopic: CDC_TOPIC, opsTopic: Topics.opsEvents });
    await feed.init();
    await feed.acquireLease('test', 60_000);
    const changes = feedReader(feed);
    await changes(); // the (empty) snapshot: the stream starts before the first write
    const reopened: Array<{ close(): Promise<void> }> = [];
    return {
      store,
      changes,
      storeSnapshots: false,
      async reopen() {
        const s = createMongoDocumentStore({ url, database, collection: 'documents', transactions: 'required' });
        await s.init();
        reopened.push(s);
        return s;
      },
      async cleanup() {
        for (const s of reopened) await s.close();
        await feed.close();
        await store.close();
        await dropDatabase(url, database);
      },
    };
  });
});
