import { join, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { DocumentStore } from '../ports/document-store.ts';
import { TributaryError } from '../ports/errors.ts';
import type { EventLog } from '../ports/event-log.ts';
import { CDC_TOPIC, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../schemas/topics.ts';
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
  /** Run the outbox relay in this process (kafka mode; default true). */
  relay?: boolean;
}

export async function openBackbone(config: Config, logger: Logger, opts: BackboneOptions = {}): Promise<Backbone> {
  const dataDir = resolve(config.dataDir);
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
  await log.connect();
  if (config.kafkaApplyTopics) await log.applyTopics(topicSpecs(config.partitions));
  let db: DatabaseSync | null = null;
  try {
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
