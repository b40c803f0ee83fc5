import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../../../adapters/event-log/murmur2.ts';
import { toLogError, isMembershipError } from '../../../../adapters/event-log/kafka/kafka-errors.ts';
import { commitMetadata, committedAtFromMetadata } from '../../../../adapters/event-log/kafka/kafka-commit-metadata.ts';
import { planTopic, topicConfigs, RECORD_OVERHEAD_BYTES } from '../../../../adapters/event-log/kafka/kafka-topics.ts';
import { isValidTraceparent, newTraceparent, withTraceContext } from '../../../../adapters/event-log/kafka/trace-context.ts';

/** The Kafka adapter's pure parts: no broker needed. */

describe('Kafka adapter: partitioning', () => {
  it('places keys exactly like the Java client\'s default partitioner (kafkajs DefaultPartitioner)', () => {
    const java = Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 4, 12]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      for (let i = 0; i < 500; i++) {
        const key = i % 3 === 0 ? `{"id":"doc-${i}"}` : `dökü-${i}-✓`;
        expect(partitionForKey(key, partitions), key).toBe(java({ topic: 't', partitionMetadata, message: { key, value: null } }));
      }
    }
  });
});

describe('Kafka adapter: topics as code', () => {
  const spec = { name: 't', partitions: 4, compacted: true, retentionMs: -1 };
  it('maps a topic spec to the configs Tributary owns', () => {
    expect(topicConfigs(spec, 1000)).toEqual({ 'cleanup.policy': 'compact', 'retention.ms': '-1', 'max.message.bytes': String(1000 + RECORD_OVERHEAD_BYTES) });
  });
  it('plans create, grow and config changes; never shrinks', () => {
    expect(planTopic(spec, undefined, 1000).create).toBe(true);
    const same = planTopic(spec, { partitions: 4, configs: topicConfigs(spec, 1000) }, 1000);
    expect(same).toMatchObject({ create: false, growTo: null, configs: null, changes: [] });
    const grow = planTopic(spec, { partitions: 2, configs: topicConfigs(spec, 1000) }, 1000);
    expect(grow).toMatchObject({ growTo: 4, configs: null, changes: ['partitions 2 → 4'] });
    const shrink = planTopic({ ...spec, partitions: 1 }, { partitions: 2, configs: topicConfigs(spec, 1000) }, 1000);
    expect(shrink.growTo).toBeNull();
    const policy = planTopic(spec, { partitions: 4, configs: { ...topicConfigs(spec, 1000), 'cleanup.policy': 'delete' } }, 1000);
    expect(policy.changes).toEqual(['cleanup.policy delete → compact']);
    expect(policy.configs).toEqual(topicConfigs(spec, 1000));
  });
});

describe('Kafka adapter: errors, commit metadata, trace context', () => {
  it('maps kafkajs errors to stable codes by type, walking causes', () => {
    const retries = { name: 'KafkaJSNumberOfRetriesExceeded', message: 'retries exceeded', cause: { name: 'KafkaJSConnectionError', message: 'ECONNREFUSED', retriable: true } };
    expect(toLogError(retries, 'append')).toMatchObject({ code: 'LOG_UNAVAILABLE', retryable: true });
    expect(toLogError({ name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE', message: 'too large' }, 'append')).toMatchObject({ code: 'OVERSIZE_RECORD', retryable: false });
    expect(toLogError({ name: 'KafkaJSProtocolError', type: 'UNKNOWN_TOPIC_OR_PARTITION', message: 'x' }, 'append').message).toContain('tributary topics apply');
    expect(isMembershipError({ name: 'KafkaJSNumberOfRetriesExceeded', cause: { type: 'REBALANCE_IN_PROGRESS' } })).toBe(true);
    expect(isMembershipError(new Error('boom'))).toBe(false);
  });
  it('records the commit time in the offset metadata', () => {
    expect(committedAtFromMetadata(commitMetadata(1234))).toBe(1234);
    expect(committedAtFromMetadata(null)).toBeNull();
    expect(committedAtFromMetadata('not json')).toBeNull();
  });
  it('adds a W3C traceparent only where none is given', () => {
    const tp = newTraceparent();
    expect(isValidTraceparent(tp)).toBe(true);
    expect(isValidTraceparent('00-00000000000000000000000000000000-0000000000000000-01')).toBe(false);
    expect(withTraceContext({ traceparent: 'given', a: '1' })).toEqual({ traceparent: 'given', a: '1' });
    expect(isValidTraceparent(withTraceContext({ a: '1' })['traceparent'])).toBe(true);
  });
});
