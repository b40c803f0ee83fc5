import { join, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { DocumentStore } from '../ports/document-store.ts';
import { TributaryError } from '../ports/errors.ts';
import type { EventLog } from '../ports/event-log.ts';
import { CDC_TOPIC, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../schemas/topics.ts';
import type { Metrics } from '../observability/metrics.ts';
import { createMongoDocumentStore } from '../adapters/document-store/mongodb/mongodb-document-store.ts';
import { MongoChangeFeed } from '../adapters/change-feed/mongodb/mongodb-change-feed.ts';
import { setupMongoCollection, type MongoSetupResult } from '../adapters/document-store/mongodb/mongodb-setup.ts';
import { openDatabase } from '../adapters/sqlite/open-database.ts';
import { EmbeddedEventLog } from '../adapters/event-log/embedded/embedded-event-log.ts';
import { EmbeddedDocumentStore } from '../adapters/document-store/embedded/embedded-document-store.ts';
import { SqliteChangeOutbox } from '../adapters/change-feed/outbox/sqlite-change-outbox.ts';
import { KafkaEventLog, parseBrokers } from '../adapters/event-log/kafka/kafka-event-log.ts';
import { OutboxChangeFeed } from '../adapters/change-feed/outbox/outbox-change-feed.ts';
import { ChangeFeedRelay } from '../connectors/relay/change-feed-relay.ts';
import type { Config } from './config.ts';

/**
 * The backbone: the event log and the document store, and how the store's changes reach the log.
 *
 *  - embedded mode: the SQLite log and the SQLite store share one database; a document write and
 *    its change event commit in one transaction (the store's transactional change feed).
 *  - kafka mode: the log is Kafka. The document store is still the embedded SQLite store (until a
 *    MongoDB adapter exists); its change events go to an outbox table in the store's database, in
 *    the same transaction as the document, and the outbox relay copies them to the CDC topic on
 *    Kafka, recording its position only after Kafka acknowledged. The store is owned by one process,
 *    the API process (`tributary dev`; in Kafka mode with TRIBUTARY_CONSUMERS naming the consumers it runs too), which runs the relay; the outbox's lease keeps a
 *    second relay (a restarted process overlapping its predecessor) from relaying at the same time.
 */
export interface Backbone {
  readonly log: EventLog;
  readonly store: DocumentStore;
  /** Kafka mode: the store's outbox relay (null in embedded mode, or when not asked for). */
  readonly relay: ChangeFeedRelay | null;
  /** Kafka mode: the outbox (pending change events), for status and tests. */
  readonly outbox: SqliteChangeOutbox | null;
  start(): void;
  /** Periodic housekeeping (embedded log retention and compaction). */
  maintain(): void;
  /** Stops the relay (its in-flight batch finishes), closes the log and the store's database. */
  close(): Promise<void>;
}

export interface BackboneOptions {
  /** Run the store's relay in this process (default true; with MONGODB_URL in Kafka mode the relay is `tributary cdc`). */
  relay?: boolean;
  metrics?: Metrics;
}

export async function openBackbone(config: Config, logger: Logger, opts: BackboneOptions = {}): Promise<Backbone> {
  const dataDir = resolve(config.dataDir);
  if (config.mongodbUrl) return openMongoBackbone(config, logger, opts);
  if (config.mode === 'embedded') {
    // store + log share one database so a document write and its change event commit together
    const db = openDatabase({ path: join(dataDir, 'tributary.db'), synchronous: config.sqliteSync });
    const log = new EmbeddedEventLog({
      db,
      maxRecordBytes: config.maxRecordBytes,
      onHandlerError: (err, info) => logger.error({ event: 'consumer.handler_error', ...info, err: (err as Error).message }),
    });
    log.ensureTopicsSync(topicSpecs(config.partitions));
    const store = new EmbeddedDocumentStore({ db, log, cdcTopic: CDC_TOPIC, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION });
    return {
      log, store, relay: null, outbox: null,
      start() {},
      maintain() { log.maintain(); },
      async close() { await log.close(); db.close(); },
    };
  }

  const log = createKafkaLog(config, logger);
  let db: DatabaseSync | null = null;
  try {
    await log.connect();
    if (config.kafkaApplyTopics) await log.applyTopics(topicSpecs(config.partitions));
    db = openDatabase({ path: join(dataDir, 'tributary.db'), synchronous: config.sqliteSync });
    const outbox = new SqliteChangeOutbox(db);
    const store = new EmbeddedDocumentStore({ db, log: outbox, cdcTopic: CDC_TOPIC, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION });
    const relay = opts.relay === false ? null : new ChangeFeedRelay({ feed: new OutboxChangeFeed(outbox), log, logger: logger.child({ component: 'relay' }), pollMs: config.relayPollMs });
    const openDb = db;
    return {
      log, store, relay, outbox,
      start() { relay?.start(); },
      maintain() {},
      async close() {
        await relay?.stop();
        await log.close();
        openDb.close();
      },
    };
  } catch (e) {
    db?.close();
    await log.close();
    throw e;
  }
}

/**
 * MONGODB_URL: the warehouse is MongoDB; its changes reach the log through the collection's change
 * stream. In Kafka mode the relay is a process of its own (`tributary cdc`, openCdc below), so the
 * API and the archive consumer only write documents; in embedded mode (one process, the SQLite log)
 * this process runs the relay.
 */
async function openMongoBackbone(config: Config, logger: Logger, opts: BackboneOptions): Promise<Backbone> {
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => { for (const c of closers.splice(0).reverse()) await c(); };
  try {
    const { log, maintain } = await openLog(config, logger, closers);
    const store = await openMongoStore(config, closers);
    let relay: ChangeFeedRelay | null = null;
    if (config.mode === 'embedded' && opts.relay !== false) {
      const feed = await openMongoChangeFeed(config, logger, closers, opts.metrics);
      relay = new ChangeFeedRelay({ feed, log, logger: logger.child({ component: 'relay' }), pollMs: config.relayPollMs });
    }
    return {
      log, store, relay, outbox: null,
      start() { relay?.start(); },
      maintain,
      async close() {
        await relay?.stop();
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** The MongoDB warehouse (MONGODB_URL): a replica set, batches as transactions, indexes created at start-up. */
export async function openMongoStore(config: Config, closers: Array<() => Promise<void> | void>): Promise<DocumentStore> {
  const store = createMongoDocumentStore({ url: config.mongodbUrl!, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION, transactions: 'required' });
  closers.push(() => store.close());
  await store.init();
  return store;
}

/** The event log of this mode: the embedded one in the data directory, or Kafka (topics applied when configured). */
async function openLog(config: Config, logger: Logger, closers: Array<() => Promise<void> | void>): Promise<{ log: EventLog; maintain: () => void }> {
  if (config.mode === 'embedded') {
    const db = openDatabase({ path: join(resolve(config.dataDir), 'tributary.db'), synchronous: config.sqliteSync });
    closers.push(() => db.close());
    const log = new EmbeddedEventLog({
      db, maxRecordBytes: config.maxRecordBytes,
      onHandlerError: (err, info) => logger.error({ event: 'consumer.handler_error', ...info, err: (err as Error).message }),
    });
    closers.push(() => log.close());
    log.ensureTopicsSync(topicSpecs(config.partitions));
    return { log, maintain: () => log.maintain() };
  }
  const log = createKafkaLog(config, logger);
  closers.push(() => log.close());
  await log.connect();
  if (config.kafkaApplyTopics) await log.applyTopics(topicSpecs(config.partitions));
  return { log, maintain: () => {} };
}

/** The MongoDB change stream as a change feed; a lost history is logged, counted and published. */
async function openMongoChangeFeed(config: Config, logger: Logger, closers: Array<() => Promise<void> | void>, metrics?: Metrics): Promise<MongoChangeFeed> {
  const feed = new MongoChangeFeed({
    url: config.mongodbUrl!, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION, cdcTopic: CDC_TOPIC, opsTopic: Topics.opsEvents,
    onAlert: (a) => {
      logger.error({ event: a.event, reason: a.reason, code: a.code, collection: a.collection }, 'change stream history lost: taking a new snapshot of the collection (the relay never restarts from "now")');
      metrics?.cdcResnapshots.inc({ collection: a.collection });
    },
  });
  closers.push(() => feed.close());
  await feed.init();
  return feed;
}

/**
 * `tributary cdc`: the change-stream relay as a process of its own (MONGODB_URL, Kafka mode). One
 * relay is active at a time across processes (a lease in MongoDB); a second one waits to take over.
 */
export async function openCdc(config: Config, logger: Logger, metrics: Metrics): Promise<{ relay: ChangeFeedRelay; log: EventLog; close(): Promise<void> }> {
  if (!config.mongodbUrl) {
    throw new TributaryError('INVALID_CONFIG', 'MONGODB_URL (mongodbUrl): `tributary cdc` relays a MongoDB change stream; without MONGODB_URL the store is SQLite and its outbox is relayed by the API process that owns it');
  }
  if (config.mode !== 'kafka') {
    throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_MODE (mode): `tributary cdc` runs the relay as its own process in Kafka mode; in embedded mode `tributary dev` runs it');
  }
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => { for (const c of closers.splice(0).reverse()) await c(); };
  try {
    const { log } = await openLog(config, logger, closers);
    const feed = await openMongoChangeFeed(config, logger, closers, metrics);
    const relay = new ChangeFeedRelay({ feed, log, logger: logger.child({ component: 'relay' }), pollMs: config.relayPollMs });
    return { relay, log, async close() { await relay.stop(); await closeAll(); } };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** The Kafka event log for this configuration (no I/O until used). */
export function createKafkaLog(config: Config, logger: Logger): KafkaEventLog {
  if (!config.kafkaBrokers) throw new TributaryError('INVALID_CONFIG', 'KAFKA_BROKERS (kafkaBrokers): is required when TRIBUTARY_MODE=kafka (e.g. 127.0.0.1:9092)');
  return new KafkaEventLog({
    brokers: parseBrokers(config.kafkaBrokers),
    clientId: config.kafkaClientId,
    logger,
    maxRecordBytes: config.maxRecordBytes,
    replicationFactor: config.kafkaReplicationFactor,
    sessionTimeoutMs: config.kafkaSessionTimeoutMs,
    rebalanceTimeoutMs: config.kafkaRebalanceTimeoutMs,
    partitionConcurrency: config.partitions,
    onHandlerError: (err, info) => logger.error({ event: 'consumer.handler_error', ...info, err: (err as Error).message }),
  });
}

/**
 * The event log alone, for tools (topics, dlq): the Kafka cluster in kafka mode, else the embedded
 * log in the data directory. No consumers, no relay.
 */
export async function openLogForTools(config: Config, logger: Logger, opts: { ensureTopics?: boolean } = {}): Promise<{ log: EventLog; kafka: KafkaEventLog | null; close(): Promise<void> }> {
  if (config.mode === 'kafka') {
    const log = createKafkaLog(config, logger);
    try {
      await log.connect();
    } catch (e) {
      await log.close();
      throw e;
    }
    return { log, kafka: log, close: () => log.close() };
  }
  const db = openDatabase({ path: join(resolve(config.dataDir), 'tributary.db'), synchronous: config.sqliteSync });
  const log = new EmbeddedEventLog({ db, maxRecordBytes: config.maxRecordBytes });
  if (opts.ensureTopics !== false) log.ensureTopicsSync(topicSpecs(config.partitions));
  return { log, kafka: null, async close() { await log.close(); db.close(); } };
}

/** `tributary setup mongodb`: the warehouse collection with pre/post images and the store's indexes. */
export async function setupMongoDb(config: Config): Promise<MongoSetupResult> {
  if (!config.mongodbUrl) throw new TributaryError('INVALID_CONFIG', 'MONGODB_URL (mongodbUrl): set it to the MongoDB replica set to set up (e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0)');
  return setupMongoCollection({ url: config.mongodbUrl, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION });
}
