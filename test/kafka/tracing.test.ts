import { afterAll, beforeAll, expect, it } from 'vitest';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { SpanNames } from '../../observability/metrics.ts';
import { startTracing, type Tracing } from '../../observability/tracing.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { resetKafka } from './harness.ts';

/**
 * Kafka mode in one process (the SQLite store's outbox → the relay → Kafka → clean → Kafka → embed),
 * traced with the SDK's in-memory exporter: the trace context crosses the outbox, the relay and both
 * Kafka hops in record headers, and one publish is still one trace down to the index write.
 */
describeKafka('traces across Kafka: the outbox, the relay and the record headers', (brokers) => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let h: ApiHarness;

  beforeAll(async () => {
    await resetKafka(brokers);
    tracing = await startTracing({ serviceName: 'tributary-test', exporter });
    // the stages on this thread: this in-process exporter sees only this thread's spans
    h = await startApiHarness({ config: { mode: 'kafka', kafkaBrokers: brokers, consumers: 'clean,embed', partitions: 2, kafkaSessionTimeoutMs: 6_000, pipelineThreads: 'off' } });
    await h.system.start();
  });
  afterAll(async () => {
    await h?.close();
    await tracing?.shutdown();
  });

  it('POST /v1/content → store write → outbox → relay → Kafka → clean → Kafka → embed → index write, one trace', async () => {
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4737';
    const res = await h.app.inject({
      method: 'POST', url: '/v1/content', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      payload: { category: 'article', author: 'Ada', content: 'Kafka headers carry the W3C trace context from the relay to the index.' },
    });
    expect(res.statusCode).toBe(202);
    const spansOf = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const indexWrite = await waitFor('the index write span', async () => spansOf().find((s) => s.name === SpanNames.indexWrite), 60_000);
    const spans = spansOf();
    const parentOf = (s: ReadableSpan) => spans.find((p) => p.spanContext().spanId === s.parentSpanContext?.spanId);
    const names: string[] = [];
    for (let cur: ReadableSpan | undefined = indexWrite; cur; cur = parentOf(cur)) names.push(cur.name);
    expect(names).toEqual([
      SpanNames.indexWrite, SpanNames.stageBatch, SpanNames.cleanDocument, SpanNames.relayRecord, SpanNames.storePut, 'POST /v1/content',
    ]);
    // the relay's batch span continues the stored context too
    const relayBatch = spans.find((s) => s.name === SpanNames.relayBatch);
    expect(relayBatch && parentOf(relayBatch)?.name).toBe(SpanNames.storePut);
  });
});
