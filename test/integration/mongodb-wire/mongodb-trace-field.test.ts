import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, expect, inject, it } from 'vitest';
import { context } from '@opentelemetry/api';
import { createMongoDocumentStore } from '../../../adapters/document-store/mongodb/mongodb-document-store.ts';
import { ensureContextPropagation, extractTraceContext } from '../../../observability/tracing.ts';
import { TRACE_CONTEXT_FIELD } from '../../../schemas/topics.ts';
import { describeFerretDb } from '../../setup/ferretdb-env.ts';

/**
 * The MongoDB store keeps its writer's W3C trace context with the document (TRACE_CONTEXT_FIELD), so
 * the change event — the relay's, from the change stream, or Debezium's full document — carries the
 * trace across the CDC hop; reads never show it. On FerretDB (the store part; the change stream
 * needs a replica set: change-feed.mongodb.test.ts with MONGODB_URL).
 */

const url = inject('ferretDbUrl');
const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describeFerretDb('mongodb store: the trace context kept with the document', () => {
  const database = `tributary_trace_${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    if (!url) return;
    const c = new MongoClient(url);
    await c.db(database).dropDatabase().catch(() => undefined);
    await c.close();
  });

  it('is stored with a write made in a trace, dropped by a write made outside one, and never read back', async () => {
    ensureContextPropagation();
    const store = createMongoDocumentStore({ url, database, collection: 'documents', transactions: 'off', timeoutMs: 5_000 });
    await store.init();
    const raw = new MongoClient(url);
    try {
      const coll = raw.db(database).collection<{ _id: string }>('documents');
      const item = { id: 't1', category: 'article', author: 'Ada', content: 'Traced.' };
      await context.with(extractTraceContext({ traceparent: TP }), () => store.put([item]));
      expect((await coll.findOne({ _id: 't1' }))?.[TRACE_CONTEXT_FIELD as never]).toEqual({ traceparent: TP });
      const read = await store.get('t1');
      expect(read).not.toHaveProperty(TRACE_CONTEXT_FIELD);
      expect(read).toMatchObject({ _id: 't1', content: 'Traced.' });
      // the same content again: unchanged (no write, no change event), whatever the trace
      expect(await store.put([item])).toEqual([{ id: 't1', outcome: 'unchanged' }]);
      // a new version written outside any trace carries none (never its predecessor's)
      await store.put([{ ...item, content: 'Untraced.' }]);
      expect(await coll.findOne({ _id: 't1' })).not.toHaveProperty(TRACE_CONTEXT_FIELD);
    } finally {
      await raw.close();
      await store.close();
    }
  });
});
