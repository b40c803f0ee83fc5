import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { SpanNames } from '../../observability/metrics.ts';
import { startTracing, type Tracing } from '../../observability/tracing.ts';
import { startProxyHarness, type ProxyHarness } from './harness.ts';

/**
 * The inference proxy and trace context: the upstream gets the W3C context of the gateway's span (a
 * child of the request's, which continues the client's traceparent), not the client's header as is.
 */
describe('inference proxy: trace context to the upstream', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const CLIENT_SPAN = '00f067aa0ba902b7';
  let h: ProxyHarness;
  beforeAll(async () => { h = await startProxyHarness({ upstreams: [{ name: 'gpu', models: ['m'], tokens: 3 }] }); });
  afterAll(async () => { await h.close(); });

  const lastUpstreamTraceparent = () => h.upstreams[0]!.requests.filter((r) => r.path.endsWith('/chat/completions')).at(-1)!.headers['traceparent'];

  it('tracing off: the upstream continues the client\'s trace (its traceparent, unchanged)', async () => {
    await h.client({ headers: { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` } }).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(lastUpstreamTraceparent()).toBe(`00-${TRACE}-${CLIENT_SPAN}-01`);
  });

  describe('tracing on', () => {
    const exporter = new InMemorySpanExporter();
    let tracing: Tracing;
    beforeAll(async () => { tracing = await startTracing({ serviceName: 'tributary-test', exporter }); });
    afterAll(async () => { await tracing.shutdown(); });

    it('the upstream\'s parent is the gateway span, under the HTTP span, under the client\'s; streamed or not', async () => {
      for (const stream of [false, true]) {
        exporter.reset();
        const client = h.client({ headers: { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` } });
        if (stream) {
          for await (const _ of await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true })) { /* drain */ }
        } else {
          await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
        }
        const sent = lastUpstreamTraceparent() as string;
        const [, traceId, parentSpan] = sent.split('-');
        expect(traceId).toBe(TRACE);
        // the spans end with the last byte: wait for them
        for (let i = 0; i < 50 && exporter.getFinishedSpans().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
        const spans = exporter.getFinishedSpans();
        const gateway = spans.find((s) => s.name === SpanNames.inferenceRequest)!;
        const http = spans.find((s) => s.name === 'POST /v1/chat/completions')!;
        expect(gateway.spanContext().spanId).toBe(parentSpan);
        expect(gateway.kind).toBe(SpanKind.CLIENT);
        expect(gateway.parentSpanContext?.spanId).toBe(http.spanContext().spanId);
        expect(http.parentSpanContext?.spanId).toBe(CLIENT_SPAN);
        expect(gateway.attributes).toMatchObject({ 'gen_ai.request.model': 'm', 'tributary.inference.upstream': 'gpu', 'tributary.outcome': 'ok', 'http.response.status_code': 200 });
        expect(http.attributes['http.response.status_code']).toBe(200);
      }
    });
  });
});
