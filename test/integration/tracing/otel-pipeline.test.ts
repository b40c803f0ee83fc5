import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { SpanNames } from '../../../observability/metrics.ts';
import { startTracing, type Tracing } from '../../../observability/tracing.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../../helpers/api-system.ts';

/**
 * OpenTelemetry across the embedded pipeline, with the SDK's in-memory exporter: one publish is one
 * trace, from `POST /v1/content` through the store write (its change event carries the context, in
 * the same transaction), the clean stage and the embed stage's embedder call, to the index write.
 */
describe('traces: one publish is one trace from POST /v1/content to the index write', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let h: ApiHarness;

  beforeAll(async () => {
    tracing = await startTracing({ serviceName: 'tributary-test', exporter });
    // the stages on this thread: this in-process exporter sees only this thread's spans (pipeline
    // threads start their own SDK from the environment and export over OTLP)
    h = await startApiHarness({ config: { pipelineThreads: 'off' } });
    await h.system.start();
  });
  afterAll(async () => {
    await h?.close();
    await tracing?.shutdown();
  });

  const traceOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  const parentOf = (spans: ReadableSpan[], s: ReadableSpan) => spans.find((p) => p.spanContext().spanId === s.parentSpanContext?.spanId);
  /** Names from `s` up to the trace's root (within the spans given). */
  const chain = (spans: ReadableSpan[], s: ReadableSpan) => {
    const names: string[] = [];
    for (let cur: ReadableSpan | undefined = s; cur; cur = parentOf(spans, cur)) names.push(cur.name);
    return names;
  };

  async function publish(headers: Record<string, string>, content: string): Promise<string> {
    const res = await h.app.inject({ method: 'POST', url: '/v1/content', headers, payload: { category: 'article', author: 'Ada', title: 'Traces', content } });
    expect(res.statusCode).toBe(202);
    const [id] = (res.json() as { ids: string[] }).ids;
    await waitFor('the document to be searchable', async () => (await h.system.index.documentVersions([id!])).size === 1);
    return id!;
  }

  it('continues the caller\'s traceparent down to the index write, hop by hop', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const t0 = Date.now();
    await publish({ traceparent: `00-${traceId}-${callerSpan}-01` }, 'OpenTelemetry carries one trace from the producer to the vector index, through the change event and every stage.');
    const indexWrite = await waitFor('the index write span', async () => traceOf(traceId).find((s) => s.name === SpanNames.indexWrite));
    const spans = traceOf(traceId);

    // the whole chain, each span the child of the one before, down from the caller's span
    expect(chain(spans, indexWrite)).toEqual([
      SpanNames.indexWrite, SpanNames.stageBatch, SpanNames.cleanDocument, SpanNames.storePut, 'POST /v1/content',
    ]);
    const http = spans.find((s) => s.name === 'POST /v1/content')!;
    expect(http.kind).toBe(SpanKind.SERVER);
    expect(http.parentSpanContext?.spanId).toBe(callerSpan);
    expect(http.attributes).toMatchObject({ 'http.route': '/v1/content', 'http.request.method': 'POST', 'http.response.status_code': 202 });

    // the stage batches: clean's under the store write (the change event's context), embed's under the clean span
    const batches = spans.filter((s) => s.name === SpanNames.stageBatch);
    expect(batches.map((b) => b.attributes['tributary.stage']).sort()).toEqual(['clean', 'embed']);
    const embedBatch = batches.find((b) => b.attributes['tributary.stage'] === 'embed')!;
    expect(parentOf(spans, batches.find((b) => b.attributes['tributary.stage'] === 'clean')!)?.name).toBe(SpanNames.storePut);
    // the embedder call and the index write are the embed batch's children
    const embed = spans.find((s) => s.name === SpanNames.embed)!;
    expect(embed, 'an embedder call span').toBeDefined();
    expect(embed.parentSpanContext?.spanId).toBe(embedBatch.spanContext().spanId);
    expect(indexWrite.parentSpanContext?.spanId).toBe(embedBatch.spanContext().spanId);
    expect(indexWrite.attributes).toMatchObject({ 'tributary.index.kind': 'embedded', 'tributary.index.operations': 1 });
    expect(indexWrite.status.code).not.toBe(2); // not ERROR
    // every span of the publish is in this trace, none ended before it began
    for (const s of spans) expect(s.startTime[0] * 1000 + s.startTime[1] / 1e6).toBeGreaterThanOrEqual(t0 - 5);
    expect(new Set(spans.map((s) => s.resource.attributes['service.name']))).toEqual(new Set(['tributary-test']));
  });

  it('a publish without a traceparent starts its own trace at the HTTP span, still one trace to the index', async () => {
    exporter.reset();
    await publish({}, 'A producer that sends no trace context gets a new trace, rooted at its request, down to the index.');
    // (the freshness probe's writes are traces of their own, with no HTTP request)
    const indexWrite = await waitFor('the index write span', async () => exporter.getFinishedSpans()
      .find((s) => s.name === SpanNames.indexWrite && traceOf(s.spanContext().traceId).some((p) => p.name === 'POST /v1/content')));
    const spans = traceOf(indexWrite.spanContext().traceId);
    const names = chain(spans, indexWrite);
    expect(names.at(-1)).toBe('POST /v1/content');
    expect(spans.find((s) => s.name === 'POST /v1/content')!.parentSpanContext).toBeUndefined();
    expect(names).toEqual([SpanNames.indexWrite, SpanNames.stageBatch, SpanNames.cleanDocument, SpanNames.storePut, 'POST /v1/content']);
  });

  it('RAG steps are spans under the request', async () => {
    exporter.reset();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await h.app.inject({ method: 'POST', url: '/v1/rag/query', headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` }, payload: { query: 'How does OpenTelemetry carry a trace?' } });
    expect(res.statusCode).toBe(200);
    await waitFor('the request span', async () => traceOf(traceId).some((s) => s.name === 'POST /v1/rag/query'));
    const spans = traceOf(traceId);
    const answer = spans.find((s) => s.name === SpanNames.ragAnswer)!;
    expect(parentOf(spans, answer)?.name).toBe('POST /v1/rag/query');
    expect(answer.attributes['tributary.rag.trace_id']).toBe((res.json() as { traceId: string }).traceId);
    const steps = spans.filter((s) => s.parentSpanContext?.spanId === answer.spanContext().spanId).map((s) => s.name);
    expect(steps).toEqual(expect.arrayContaining([SpanNames.ragSelfQuery, SpanNames.ragExpansion, SpanNames.ragSearch, SpanNames.ragRerank]));
    const search = spans.find((s) => s.name === SpanNames.ragSearch)!;
    expect(spans.find((s) => s.name === SpanNames.embed && s.parentSpanContext?.spanId === search.spanContext().spanId)).toBeDefined();
    expect(spans.find((s) => s.name === SpanNames.ragExpansion)!.attributes['tributary.rag.step_status']).toBe('skipped');
  });
});
