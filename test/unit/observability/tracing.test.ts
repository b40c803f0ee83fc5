import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { EmbeddedEventLog } from '../../../adapters/event-log/embedded/embedded-event-log.ts';
import { withTraceContext } from '../../../adapters/event-log/kafka/trace-context.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import { JsonValueCodec } from '../../../adapters/value-codec/json/json-codec.ts';
import { CleanStage } from '../../../consumers/clean/clean-stage.ts';
import { SpanNames } from '../../../observability/metrics.ts';
import {
  documentTraceCarrier, ensureContextPropagation, extractTraceContext, isValidTraceparent, newRootTraceHeaders, otlpTracesEndpoint, otlpTracesProtocol, recordTraceContext,
  startRecordSpan, startTracing, traceHeaders, withBatchSpan, withSpan, type Tracing,
} from '../../../observability/tracing.ts';
import { TributaryError } from '../../../ports/errors.ts';
import type { LogRecord } from '../../../ports/event-log.ts';
import { buildEnvelope, buildKey } from '../../../schemas/change-event.ts';
import { CDC_TOPIC, Topics, TRACE_CONTEXT_FIELD, topicSpecs } from '../../../schemas/topics.ts';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TP2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** A Debezium-shaped change event for `doc` (as the relay and Debezium write it), with `headers`. */
function changeRecord(doc: Record<string, unknown>, headers: Record<string, string> = {}, offset = 0): LogRecord {
  const env = buildEnvelope({ op: 'c', db: 'tributary', collection: 'documents', tsMs: 1_700_000_000_000 + offset, ord: 1, after: doc });
  return { topic: CDC_TOPIC, partition: 0, offset, key: buildKey(String(doc['_id'])), value: Buffer.from(JSON.stringify(env)), headers, timestamp: Date.now() };
}
const doc = (id: string, extra: Record<string, unknown> = {}) => ({ _id: id, category: 'article', author: 'Ada', content: `<p>Document ${id} about traces.</p>`, title: 'T', ...extra });

describe('trace context on records, tracing off (no tracer provider)', () => {
  beforeAll(() => ensureContextPropagation());

  it('the W3C carrier round-trips traceparent and tracestate through record headers', () => {
    const headers = { traceparent: TP, tracestate: 'vendor=abc', other: 'x' };
    expect(traceHeaders(extractTraceContext(headers))).toEqual({ traceparent: TP, tracestate: 'vendor=abc' });
    expect(traceHeaders(extractTraceContext({ traceparent: 'not-a-traceparent' }))).toEqual({});
    expect(traceHeaders(ROOT_CONTEXT)).toEqual({});
    // an HTTP request's repeated header counts once
    expect(traceHeaders(extractTraceContext({ traceparent: [TP, TP2] }))).toEqual({ traceparent: TP });
  });

  it('validates traceparents as OTel\'s propagator does; new roots are valid and distinct', () => {
    expect(isValidTraceparent(TP)).toBe(true);
    expect(isValidTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBe(false);
    expect(isValidTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBe(false);
    expect(isValidTraceparent(undefined)).toBe(false);
    const a = newRootTraceHeaders()['traceparent'];
    expect(isValidTraceparent(a)).toBe(true);
    expect(a).not.toBe(newRootTraceHeaders()['traceparent']);
  });

  it('a Kafka record keeps its traceparent, else gets the active context, else a new root', async () => {
    expect(withTraceContext({ traceparent: 'given' })).toEqual({ traceparent: 'given' });
    expect(context.with(extractTraceContext({ traceparent: TP }), () => withTraceContext({ a: '1' }))).toEqual({ a: '1', traceparent: TP });
    const root = withTraceContext({ a: '1' });
    expect(isValidTraceparent(root['traceparent'])).toBe(true);
    expect(root['traceparent']).not.toBe(TP);
  });

  it('a record hop forwards the context it came with unchanged; the active context flows through withSpan', async () => {
    const { span, headers } = startRecordSpan(SpanNames.cleanDocument, extractTraceContext({ traceparent: TP }), {});
    expect(span.isRecording()).toBe(false);
    expect(headers).toEqual({ traceparent: TP });
    span.end();
    const inside = await context.with(extractTraceContext({ traceparent: TP }), () => withSpan(SpanNames.storePut, {}, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return traceHeaders();
    }));
    expect(inside).toEqual({ traceparent: TP });
  });

  it('a record continues its headers\' context, else the one kept with its document, else the active one', () => {
    expect(traceHeaders(recordTraceContext({ traceparent: TP }, { traceparent: TP2 }))).toEqual({ traceparent: TP });
    expect(traceHeaders(recordTraceContext({}, { traceparent: TP2 }))).toEqual({ traceparent: TP2 });
    expect(context.with(extractTraceContext({ traceparent: TP }), () => traceHeaders(recordTraceContext({ traceparent: 'bad' })))).toEqual({ traceparent: TP });
    expect(documentTraceCarrier(extractTraceContext({ traceparent: TP }))).toEqual({ traceparent: TP });
    expect(documentTraceCarrier(ROOT_CONTEXT)).toBeNull();
  });

  it('the OTLP endpoint comes from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces; unset: off', async () => {
    expect(otlpTracesEndpoint({})).toBeNull();
    expect(otlpTracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe('http://collector:4318/v1/traces');
    expect(otlpTracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/traces' })).toBe('http://b:4318/traces');
    const off = await startTracing({ serviceName: 'tributary-test', env: {} });
    expect(off.enabled).toBe(false);
    expect(off.description).toMatch(/^off .*OTEL_EXPORTER_OTLP_ENDPOINT/);
    await off.shutdown();
  });

  it('the OTLP protocol: http/protobuf by default, http/json or grpc when asked (traces first), anything else refused by name', () => {
    expect(otlpTracesProtocol({})).toBe('http/protobuf');
    expect(otlpTracesProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toBe('grpc');
    expect(otlpTracesProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' })).toBe('http/json');
    expect(() => otlpTracesProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'udp' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: "udp" is not an OTLP protocol; use http\/protobuf, http\/json, grpc/);
  });
});

describe('the clean stage carries each record\'s trace context to its cleaned record', () => {
  let dir: string; let log: EmbeddedEventLog; let close: () => void;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-trace-'));
    const db = openDatabase({ path: join(dir, 't.db'), synchronous: 'normal' });
    log = new EmbeddedEventLog({ db, maxRecordBytes: 1 << 20 });
    log.ensureTopicsSync(topicSpecs(1));
    close = () => db.close();
  });
  afterAll(async () => { await log.close(); close(); rmSync(dir, { recursive: true, force: true }); });

  it('from the headers, or (Debezium: no header) from the document\'s reserved field, which never reaches the content', async () => {
    const stage = new CleanStage({ log, codec: new JsonValueCodec() });
    const failures = await stage.process([
      changeRecord(doc('h1'), { traceparent: TP }, 0),
      changeRecord(doc('d1', { [TRACE_CONTEXT_FIELD]: { traceparent: TP2 } }), {}, 1),
      changeRecord(doc('n1', { [TRACE_CONTEXT_FIELD]: { traceparent: 42 } }), {}, 2),
    ]);
    expect(failures).toEqual([]);
    const out = await log.read(Topics.cleaned, 0, 0, 10);
    const byKey = new Map(out.map((r) => [r.key, r]));
    expect(byKey.get('h1')!.headers['traceparent']).toBe(TP);
    expect(byKey.get('d1')!.headers['traceparent']).toBe(TP2);
    expect(byKey.get('n1')!.headers['traceparent']).toBeUndefined();
    for (const r of out) {
      const text = Buffer.from(r.value!).toString('utf8');
      expect(text).not.toContain(TRACE_CONTEXT_FIELD);
      expect(text).not.toContain('traceparent');
    }
  });
});

describe('spans, with a tracer provider (in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  beforeAll(async () => { tracing = await startTracing({ serviceName: 'tributary-test', exporter }); });
  afterAll(async () => { await tracing.shutdown(); });

  it('a batch span continues its first traced record and links the others; record spans are children of their own record', async () => {
    exporter.reset();
    const headers: Array<Record<string, string>> = [{}, { traceparent: TP }, { traceparent: TP2 }, { traceparent: TP }];
    const forwarded = await withBatchSpan(SpanNames.stageBatch, headers, { 'tributary.stage': 'test' }, async () => {
      const batch = trace.getSpanContext(context.active())!;
      return headers.slice(1).map((h) => {
        const { span, headers: out } = startRecordSpan(SpanNames.cleanDocument, recordTraceContext(h), {}, batch);
        span.end();
        return out;
      });
    });
    const spans = exporter.getFinishedSpans();
    const batch = spans.find((s) => s.name === SpanNames.stageBatch)!;
    expect(batch.spanContext().traceId).toBe(TP.split('-')[1]);
    expect(batch.parentSpanContext?.spanId).toBe(TP.split('-')[2]);
    expect(batch.links.map((l) => l.context.traceId)).toEqual([TP2.split('-')[1]]);
    expect(batch.attributes).toMatchObject({ 'tributary.stage': 'test', 'tributary.batch.linked_traces': 1 });
    const records = spans.filter((s) => s.name === SpanNames.cleanDocument);
    expect(records.map((s) => s.spanContext().traceId)).toEqual([TP, TP2, TP].map((t) => t.split('-')[1]));
    expect(records.every((s) => s.links[0]?.context.spanId === batch.spanContext().spanId)).toBe(true);
    // each forwarded record names its hop's span
    expect(forwarded.map((h) => h['traceparent'])).toEqual(records.map((s) => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`));
  });

  it('withSpan records an exception, its code and status ERROR, and rethrows', async () => {
    exporter.reset();
    await expect(withSpan(SpanNames.indexWrite, {}, async () => { throw new TributaryError('INDEX_UNAVAILABLE', 'index down'); })).rejects.toThrow('index down');
    const [s] = exporter.getFinishedSpans();
    expect(s!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'INDEX_UNAVAILABLE: index down' });
    expect(s!.attributes['tributary.error.code']).toBe('INDEX_UNAVAILABLE');
    expect(s!.events.map((e) => e.name)).toEqual(['exception']);
  });
});
