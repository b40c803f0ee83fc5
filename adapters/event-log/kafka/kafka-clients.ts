import type { Admin, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { TributaryError } from '../../../ports/errors.ts';
import { toLogError } from './kafka-errors.ts';
import { KafkaLogEvents } from './kafka-log-events.ts';
import { createRawCluster, type RawCluster } from './kafkajs-internals.ts';

/**
 * The Kafka event log's clients and their lifecycle: the admin client, the idempotent producer and
 * kafkajs's cluster client for raw requests (kafkajs-internals.ts). Each connects on first use; two
 * callers asking at once share one connection attempt, and a failed attempt is forgotten so the next
 * call tries again. Once closing has begun no client is created (one connecting then would leak its
 * sockets); `close()` waits for clients still connecting, then disconnects them all.
 */
export class KafkaClients {
  private readonly kafka: Kafka;
  private readonly brokers: string[];
  private readonly log: Logger;
  private admin: Admin | null = null;
  private adminConnecting: Promise<Admin> | null = null;
  private producer: Producer | null = null;
  private producerConnecting: Promise<Producer> | null = null;
  private raw: RawCluster | null = null;
  private rawConnecting: Promise<void> | null = null;
  private rawQueue: Promise<unknown> = Promise.resolve();
  /** Set when closing starts: no new client is created after it. */
  private closing = false;
  private closed = false;

  constructor(kafka: Kafka, brokers: string[], log: Logger) {
    this.kafka = kafka;
    this.brokers = brokers;
    this.log = log;
  }

  /** True once closing has begun. */
  get isClosing(): boolean {
    return this.closed || this.closing;
  }

  assertOpen(): void {
    if (this.closed || this.closing) throw new TributaryError('LOG_UNAVAILABLE', 'event log is closed');
  }

  async adminClient(): Promise<Admin> {
    this.assertOpen();
    if (this.admin) return this.admin;
    this.adminConnecting ??= (async () => {
      const admin = this.kafka.admin({ retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 6 } });
      try {
        await admin.connect();
      } catch (e) {
        this.adminConnecting = null;
        throw toLogError(e, `connect to ${this.brokers.join(',')}`);
      }
      this.admin = admin;
      return admin;
    })();
    return this.adminConnecting;
  }

  async producerClient(): Promise<Producer> {
    this.assertOpen();
    if (this.producer) return this.producer;
    this.producerConnecting ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // explicit partitions are set on every message; this only silences kafkajs's partitioner notice
        createPartitioner: () => ({ partitionMetadata, message }) => message.partition ?? partitionMetadata[0]?.partitionId ?? 0,
        // bounded, so a broker that stays away surfaces as LOG_UNAVAILABLE to the caller, who backs off
        retry: { initialRetryTime: 200, maxRetryTime: 3_000, retries: 10 },
      });
      try {
        await producer.connect();
      } catch (e) {
        this.producerConnecting = null;
        throw toLogError(e, 'connect the producer');
      }
      this.producer = producer;
      return producer;
    })();
    return this.producerConnecting;
  }

  /** Drops the producer after its idempotence state went out of sync (e.g. the broker lost it): the next append starts a new one. */
  async resetProducer(reason: string): Promise<void> {
    const p = this.producer;
    this.producer = null;
    this.producerConnecting = null;
    this.log.warn({ event: KafkaLogEvents.producerReset, reason }, 'starting a new Kafka producer');
    await p?.disconnect().catch(() => undefined);
  }

  private async rawCluster(): Promise<RawCluster> {
    this.assertOpen();
    const raw = this.raw ??= createRawCluster(this.kafka);
    if (!raw.isConnected()) {
      this.rawConnecting ??= raw.connect().finally(() => { this.rawConnecting = null; });
      try { await this.rawConnecting; } catch (e) { throw toLogError(e, 'connect'); }
    }
    return raw;
  }

  /**
   * Runs a raw request on the cluster client. Raw requests go one at a time: kafkajs's connection
   * pool opens a connection per concurrent first request to a broker and keeps only one of them
   * (the others would leak their sockets).
   */
  rawRequest<T>(request: (cluster: RawCluster) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => request(await this.rawCluster());
    const p = this.rawQueue.then(run, run);
    this.rawQueue = p.catch(() => undefined);
    return p;
  }

  /** From now on no client is created (appends still queued fail with LOG_UNAVAILABLE). */
  beginClose(): void {
    this.closing = true;
  }

  /** Waits for clients still connecting (so that they are disconnected too), then disconnects every client. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([this.adminConnecting, this.producerConnecting, this.rawConnecting]);
    this.closed = true;
    await Promise.all([
      this.producer?.disconnect().catch(() => undefined),
      this.admin?.disconnect().catch(() => undefined),
      this.raw?.disconnect().catch(() => undefined),
    ]);
  }
}
