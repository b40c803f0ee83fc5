import { describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { createMongoDocumentStore } from '../../adapters/document-store/mongodb/mongodb-document-store.ts';
import { MongoChangeFeed, type ChangeFeedAlert } from '../../adapters/change-feed/mongodb/mongodb-change-feed.ts';
import { parseChangeRecord } from '../../schemas/change-event.ts';
import { CDC_TOPIC, TRACE_CONTEXT_FIELD, Topics } from '../../schemas/topics.ts';
import { context } from '@opentelemetry/api';
import { ensureContextPropagation, extractTraceContext } from '../../observability/tracing.ts';
import { describeWith } from '../helpers/ci.ts';
import { dropDatabase, feedReader, MONGODB_NEED, MONGODB_URL, testDatabase } from '../helpers/mongodb.ts';
import { describeChangeFeedConformance } from './change-feed.conformance.ts';

/**
 * The ChangeFeed suite on a MongoDB change stream (MONGODB_URL, a replica set), and what only that
 * adapter does: the first-start snapshot without a gap, documents written straight into the
 * collection by another application, and a lost history (an unknown resume token) answered by an
 * alert and a new snapshot. The GitHub workflow runs it against MongoDB 7 as a replica set.
 */

describeWith(MONGODB_NEED, 'on a MongoDB change stream (MONGODB_URL, a replica set)', () => {
  const url = MONGODB_URL ?? '';
  const feedFor = (database: string, onAlert?: (a: ChangeFeedAlert) => void) =>
    new MongoChangeFeed({ url, database, collection: 'documents', cdcTopic: CDC_TOPIC, opsTopic: Topics.opsEvents, ...(onAlert ? { onAlert } : {}) });

  describeChangeFeedConformance('mongodb change stream', async () => {
    const database = testDatabase('tributary_feed');
    const store = createMongoDocumentStore({ url, database, collection: 'documents', transactions: 'required' });
    await store.init();
    const feed = feedFor(database);
    await feed.init();
    const others: MongoChangeFeed[] = [];
    // the (empty) snapshot first, so the stream starts before the suite writes
    await feed.acquireLease('setup', 60_000);
    const first = await feed.read(10, 200, new AbortController().signal);
    if (first.position) await feed.commit('setup', first.position);
    await feed.releaseLease('setup');
    return {
      feed, store,
      async other() { const f = feedFor(database); await f.init(); others.push(f); return f; },
      async cleanup() {
        for (const f of others) await f.close();
        await feed.close();
        await store.close();
        await dropDatabase(url, database);
      },
    };
  });

  describe('MongoDB change feed (adapter-specific, live replica set)', () => {
    it('first start: snapshots what exists (op "r"), then streams what comes after, with nothing in between', async () => {
      const database = testDatabase('tributary_feed');
      const client = new MongoClient(url);
      let feed: MongoChangeFeed | undefined;
      try {
        const coll = client.db(database).collection<{ _id: string; category: string; author: string; content: string }>('documents');
        await coll.insertMany([{ _id: 'old-1', category: 'post', author: 'a', content: 'before' }, { _id: 'old-2', category: 'post', author: 'a', content: 'before' }]);
        feed = feedFor(database);
        await feed.init();
        // (the lease write also moves the operation time past the inserts above, so the stream,
        // which starts at that time inclusively, cannot hand out old-2's insert a second time)
        expect(await feed.acquireLease('t', 60_000)).toBe(true);
        const read = feedReader(feed);
        const snap = (await read()).map((r) => parseChangeRecord(r));
        expect(snap.map((c) => (c.kind === 'upsert' ? `${c.op}:${c.docId}` : c.kind))).toEqual(['r:old-1', 'r:old-2']);
        await coll.insertOne({ _id: 'new-1', category: 'post', author: 'a', content: 'after' });
        await coll.updateOne({ _id: 'old-1' }, { $set: { content: 'edited' } });
        const all = (await read()).map((r) => parseChangeRecord(r));
        expect(all.slice(2).map((c) => (c.kind === 'upsert' ? `${c.op}:${c.docId}` : c.kind))).toEqual(['c:new-1', 'u:old-1']);
        const old1 = all.filter((c) => c.kind === 'upsert' && c.docId === 'old-1').map((c) => (c.kind === 'upsert' ? c.version : 0));
        expect(old1[1]!).toBeGreaterThan(old1[0]!);
      } finally {
        await feed?.close();
        await client.close();
        await dropDatabase(url, database);
      }
    });

    it('an insert or update carries the trace context its writer kept with the document, in the event\'s headers; a snapshot does not', async () => {
      const database = testDatabase('tributary_feed');
      const store = createMongoDocumentStore({ url, database, collection: 'documents', transactions: 'required' });
      let feed: MongoChangeFeed | undefined;
      const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      try {
        await store.init();
        ensureContextPropagation();
        await context.with(extractTraceContext({ traceparent: tp }), () => store.put([{ id: 'before', category: 'post', author: 'a', content: 'x' }]));
        feed = feedFor(database);
        await feed.init();
        expect(await feed.acquireLease('t', 60_000)).toBe(true);
        const read = feedReader(feed);
        const [snap] = await read();
        expect(snap!.headers['traceparent']).toBeUndefined();
        await context.with(extractTraceContext({ traceparent: tp }), () => store.put([{ id: 'traced', category: 'post', author: 'a', content: 'y' }]));
        await store.put([{ id: 'untraced', category: 'post', author: 'a', content: 'z' }]);
        const [traced, untraced] = (await read()).slice(1);
        expect(traced!.headers).toEqual({ traceparent: tp });
        const parsed = parseChangeRecord(traced!);
        expect(parsed.kind === 'upsert' && parsed.trace).toEqual({ traceparent: tp });
        expect(parsed.kind === 'upsert' && parsed.document).not.toHaveProperty(TRACE_CONTEXT_FIELD);
        expect(untraced!.headers['traceparent']).toBeUndefined();
      } finally {
        await feed?.close();
        await store.close();
        await dropDatabase(url, database);
      }
    });

    it('a resume token the server no longer knows: an alert, a record on the ops topic, and a new snapshot — never a restart from "now"', async () => {
      const database = testDatabase('tributary_feed');
      const client = new MongoClient(url);
      const alerts: ChangeFeedAlert[] = [];
      let feed: MongoChangeFeed | undefined;
      try {
        const coll = client.db(database).collection<{ _id: string; category: string; author: string; content: string }>('documents');
        await coll.insertOne({ _id: 'd1', category: 'post', author: 'a', content: 'x' });
        // a committed position older than the oplog: a whole resume token of August 2021 (a test
        // replica set's oplog starts at rs.initiate), so the server answers ChangeStreamHistoryLost
        const token = '82612E8513000000012B022C0100296E5A1004A5093ABB38FE4B9EA67F01BB1A96D812463C5F6964003C5F5F5F78000004';
        await client.db(database).collection('tributary_relay').insertOne({ _id: `${database}.documents` as never, owner: null, leaseUntil: 0, position: JSON.stringify({ token: { _data: token } }) } as never);
        feed = feedFor(database, (a) => alerts.push(a));
        await feed.init();
        expect(await feed.acquireLease('t', 60_000)).toBe(true);
        const records = await feedReader(feed)();
        expect(alerts).toHaveLength(1);
        expect(records.some((r) => r.topic === Topics.opsEvents && r.key === 'cdc.resnapshot')).toBe(true);
        const snapshot = records.filter((r) => r.topic === CDC_TOPIC).map((r) => parseChangeRecord(r));
        expect(snapshot.map((c) => (c.kind === 'upsert' ? `${c.op}:${c.docId}` : c.kind))).toEqual(['r:d1']);
      } finally {
        await feed?.close();
        await client.close();
        await dropDatabase(url, database);
      }
    });
  });
});
