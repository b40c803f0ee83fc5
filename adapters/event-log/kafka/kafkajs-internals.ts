import type { Kafka } from 'kafkajs';

/**
 * The two things the event-log port needs that kafkajs has no public API for:
 *  - reading a partition from an offset without joining a consumer group (`read`, DLQ listing,
 *    the last record's timestamp for lag in seconds);
 *  - committing a group's offset as a standalone commit (generation -1, no member), which is what
 *    Kafka's own AdminClient.alterConsumerGroupOffsets does (kafkajs's admin.setOffsets instead
 *    starts a whole consumer and joins the group).
 * Both go through kafkajs's cluster client (same brokers, TLS/SASL settings and logger as the
 * public clients). It is reached through the client's private factory, so this file is the only
 * place that depends on kafkajs internals; kafkajs is pinned to 2.2.x, whose internals no longer change.
 */

export interface RawMessage {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string | Array<Buffer | string> | undefined>;
  isControlRecord?: boolean;
}

export interface RawPartitionResponse {
  partition: number;
  errorCode: number;
  highWatermark: string;
  messages: RawMessage[];
}

export interface RawBroker {
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
  }): Promise<{ responses: Array<{ topicName: string; partitions: RawPartitionResponse[] }> }>;
  offsetCommit(request: {
    groupId: string;
    groupGenerationId: number;
    memberId: string;
    retentionTime?: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string; metadata?: string | null }> }>;
  }): Promise<unknown>;
}

export interface RawCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  isConnected(): boolean;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(destination: { nodeId: string }): Promise<RawBroker>;
  findGroupCoordinator(group: { groupId: string }): Promise<RawBroker>;
}

/** READ_COMMITTED, as consumers read by default. */
export const READ_COMMITTED = 1;

export function createRawCluster(kafka: Kafka): RawCluster {
  const factory = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  const create = factory ? (kafka as unknown as Record<symbol, unknown>)[factory] : undefined;
  if (typeof create !== 'function') {
    throw new Error('this kafkajs version does not expose its cluster client (Tributary needs kafkajs 2.2.x)');
  }
  return (create as (o: Record<string, unknown>) => RawCluster)({
    metadataMaxAge: 60_000,
    allowAutoTopicCreation: false,
    maxInFlightRequests: null,
    instrumentationEmitter: null,
    isolationLevel: READ_COMMITTED,
  });
}
