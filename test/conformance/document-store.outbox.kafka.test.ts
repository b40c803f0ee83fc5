import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { pino } from 'pino';
import { KafkaEventLog, parseBrokers } from '../../adapters/event-log/kafka/kafka-event-log.ts';
import { EmbeddedDocumentStore } from '../../adapters/document-store/embedded/embedded-document-store.ts';
import { SqliteChangeOutbox } from '../../adapters/change-feed/outbox/sqlite-change-outbox.ts';
import { openDatabase } from '../../adapters/sqlite/open-database.ts';
import { ChangeFeedRelay } from '../../connectors/relay/change-feed-relay.ts';
import { OutboxChangeFeed } from '../../adapters/change-feed/outbox/outbox-change-feed.ts';
import { WAREHOUSE_COLLECTION, WAREHOUSE_DB } from '../../schemas/topics.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { cdcReader, describeDocumentStoreConformance } from './document-store.conformance.ts';

/**
 * The embedded store in Kafka mode: change events go to the outbox in the document's transaction
 * and the relay copies them to a CDC topic on the real broker. The same conformance suite as the
 * transactional feed, read back from Kafka.
 */

let seq = 0;

describeKafka('on the test broker', (brokers) => {
  describeDocumentStoreConformance('embedded store → outbox → relay → Kafka (real broker)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-outbox-kafka-'));
    const logger = pino({ level: 'silent' });
    const log = new KafkaEventLog({
      brokers: parseBrokers(brokers), clientId: 'tributary-conformance-outbox', logger, maxRecordBytes: 1 << 20,
      replicationFactor: -1, sessionTimeoutMs: 6000, rebalanceTimeoutMs: 10000, partitionConcurrency: 2,
    });
    const cdcTopic = `conf.cdc.${process.pid}.${Date.now().toString(36)}.${seq++}`;
    await log.ensureTopics([{ name: cdcTopic, partitions: 3, compacted: false, retentionMs: -1 }]);
    const dbs: DatabaseSync[] = [];
    const relays: ChangeFeedRelay[] = [];
    const open = () => {
      const db = openDatabase({ path: join(dir, 'tributary.db'), synchronous: 'normal' });
      dbs.push(db);
      const outbox = new SqliteChangeOutbox(db);
      const relay = new ChangeFeedRelay({ feed: new OutboxChangeFeed(outbox), log, logger, pollMs: 10, leaseMs: 2_000 });
      relays.push(relay);
      relay.start();
      return { store: new EmbeddedDocumentStore({ db, log: outbox, cdcTopic, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION }), relay };
    };
    const { store, relay } = open();
    const read = cdcReader(log, cdcTopic);
    return {
      store,
      changes: async () => { await relay.drained(); return read(); },
      reopen: async () => open().store,
      cleanup: async () => {
        for (const r of relays) await r.stop();
        await log.close();
        for (const d of dbs) d.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});
